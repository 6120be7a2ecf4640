-- One row per (metric, side) tested in a run, written with the run's final status.
CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    job         TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    side        TEXT    NOT NULL,
    test        TEXT    NOT NULL,
    statistic   REAL,
    p_value     REAL,
    p_adjusted  REAL,
    effect_size REAL,
    threshold   REAL,
    verdict     TEXT    NOT NULL,
    ref_n       INTEGER NOT NULL,
    cur_n       INTEGER NOT NULL,
    details     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX findings_run ON findings (run_id);

-- Golden metric distributions, computed once per golden version and settings.
CREATE TABLE reference_profiles (
    set_name      TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    settings_hash TEXT    NOT NULL,
    profile       TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (set_name, version, settings_hash)
);
