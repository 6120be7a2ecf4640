//! The schema migrations of both backends, embedded in the binary by `build.rs`
//! and run through sqlx's own `Migrator` (its `_sqlx_migrations` table, version
//! order, checksums and locking). This replaces `sqlx::migrate!`, which needs
//! sqlx's macro crates and so a second, host-side build of sqlx and SQLite in
//! every cold build; the migrations, checksums and the table are the same.
use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::SqlSafeStr;

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// A backend's migrator: its migrations in version order, checksummed as
/// `sqlx::migrate!` does (SHA-384 of the file's text), each in a transaction.
fn migrator(table: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = table
        .iter()
        .map(|&(version, description, sql)| {
            let no_tx = sql.starts_with("-- no-transaction");
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                no_tx,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

pub(super) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(super) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn checksums(m: &Migrator) -> Vec<String> {
        m.iter().map(|m| hex(&m.checksum)).collect()
    }

    /// A store migrated by an earlier driftwatch must open with this one:
    /// sqlx refuses to run when an applied migration's checksum changed. The
    /// values are the `_sqlx_migrations.checksum` column of a SQLite file and a
    /// PostgreSQL database created by the build of commit 0070e1f, which used
    /// `sqlx::migrate!` (sqlx 0.9.0).
    #[test]
    fn checksums_equal_those_sqlx_migrate_recorded() {
        let recorded_sqlite = [
        "2af5614359f45971ff72daa90b36b577b570c0f7d512117674313bc10aeeba93790c55e95229f8d62ee218b08ebbba66",
        "3635630929be7a06f6eadb55edfd196a696ccd3257477060c78d7e9166eb5ccf90fe0533da293ac35aa2f8f221455116",
        "41003cabdfcaf0e3119e1bd6a3b0f1fa15b3e9a0f93f820c831e332d98f3436c7b73847c0e09fd961f7e2e8c34e98594",
        "aef14666b374d9b6fdc2a7751dfc5a11906c193db12883ed9059eeb0ff7205e612fd922aff0bdb7fe3f08a65e324a75e",
        "aea2c1bb17b092a6ee68ecd169bd86773f5a675693fd9f4bc493fe39e874536f674772686a67907a2a163a22b1f1199e",
        "17a600667335e07f05ab75ca275abcbec449420779b43750df4c10f2e120daf7d357c5bf2ee3b0bfc0c46e74047d512f",
        "5497b1261930d69e7b015a411ec3e8aae58aa21fbc0e961fb9bd06f05d6f59561202e3307bf085baa0f6c64679938e18",
        "48d27d9f9c0746995009bdda84fd4a2889db0eef3bcb3cf993823bc9decf4682d947a642b33a4361c767f492bd08fe23",
        "e1bb267d8eedde51504c44a93af0df6dbc9bca9780ae932448b023313799702eb63ec91aaa7b8574552297349e12754a",
        ];
        let recorded_postgres = [
        "7f10dc4437a12aa8531d1439338085b2b7741dbbb8d0353313e7ecb9ccd820c8c2c45c1ca0ee5bd0db71c9ae5f75a3ce",
        "6e7316dbea46889722dfe3f5f514e9081fd04acb5714a589f0c1a2fca691e5f970d45a32610d9da327580aa7989b9db0",
        "eec2f5c1947b1a99c4931bd22cfdf56a1545b84ba3f8cf4484643a87fb270ca65d90d9e3efdbd4b0c2e752bc983a8b06",
        "a8aed76e64ad28345307fd057a9de2d23e8e3dcbbfe3adb87e8977d251ddee07150a3f7c4326dab1ae4f6fd11be6f401",
        "bd95538d953c41a7382d4dfe6f1a0ae379989241af5ff3075bd522f372e1fa569bba2beaf0ba6a02610f4606e440037f",
        "17a600667335e07f05ab75ca275abcbec449420779b43750df4c10f2e120daf7d357c5bf2ee3b0bfc0c46e74047d512f",
        "82037ae97a1d99fd94b607a6eb06d28a7d869930bde15b351cbb29df2696cf5269a29708a94ceacd206d8fe547830ec7",
        "87b59e5aedfdd960f0fb0c8ef14421a824b13ef10f50a460db0f58860ba5aff70874cbb65a7fa817bb3bfe34c67aa407",
        "8b4a9d30b71a4488ce57a6d416fc48c87f44b49800788893f40706ca81d214acec183c528b631b214c42521d29fea975",
        ];
        assert_eq!(checksums(&sqlite()), recorded_sqlite);
        assert_eq!(checksums(&postgres()), recorded_postgres);
    }

    #[test]
    fn every_migration_file_is_embedded_in_version_order() {
        for (backend, m) in [("sqlite", sqlite()), ("postgres", postgres())] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let embedded: Vec<String> = m
                .iter()
                .map(|m| format!("{}_{}.sql", m.version, m.description))
                .collect();
            assert_eq!(embedded, files, "{backend}");
            assert!(m.iter().all(|m| !m.no_tx), "{backend}");
        }
    }
}
