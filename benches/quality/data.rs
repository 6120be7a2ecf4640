//! Real-text data sets of the detection-quality benchmark and the embedding
//! file cache (each text is embedded once, ever, per model).

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use driftwatch::embed::{EmbedError, Embedder};

/// One labelled query.
#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    /// BANKING77 category, or CLINC150 intent.
    pub intent: String,
    /// CLINC150 domain; BANKING77 has one domain, `banking77`; a fortune's
    /// theme, or `mixed`.
    pub domain: String,
    /// A real reply to stand for the application's answer (fortunes: the next
    /// fortune of the same file), instead of the templated JSON answer.
    pub reply: Option<String>,
}

/// BANKING77 (train + test): 13,083 queries in 77 intents.
pub fn banking77(dir: &Path) -> Vec<Query> {
    let mut out = Vec::new();
    for f in ["train.csv", "test.csv"] {
        let p = dir.join("banking77").join(f);
        let mut r = csv::Reader::from_path(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for rec in r.records() {
            let rec = rec.expect("banking77 csv record");
            out.push(Query {
                text: rec[0].trim().to_string(),
                intent: rec[1].to_string(),
                domain: "banking77".into(),
                reply: None,
            });
        }
    }
    out
}

/// CLINC150 in-scope queries (train + val + test) with their domains.
pub fn clinc150(dir: &Path) -> Vec<Query> {
    let read = |f: &str| -> serde_json::Value {
        let p = dir.join("clinc150").join(f);
        serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .expect("clinc150 json")
    };
    let domains = read("domains.json");
    let mut domain_of = HashMap::new();
    for (d, intents) in domains.as_object().expect("domains object") {
        for i in intents.as_array().expect("intent list") {
            domain_of.insert(i.as_str().unwrap().to_string(), d.clone());
        }
    }
    let full = read("data_full.json");
    let mut out = Vec::new();
    for split in ["train", "val", "test"] {
        for pair in full[split].as_array().expect("split list") {
            let intent = pair[1].as_str().unwrap().to_string();
            let Some(domain) = domain_of.get(&intent) else {
                continue;
            };
            out.push(Query {
                text: pair[0].as_str().unwrap().trim().to_string(),
                intent,
                domain: domain.clone(),
                reply: None,
            });
        }
    }
    out
}

/// Debian's fortunes (`scripts/ensure-fortunes.sh` installs them under
/// `/usr/share/games/fortunes`): ≈ 14,000 quotations, jokes, definitions and
/// verses in files by theme. Long, hand-written English of many registers that
/// no setting was tuned on; the third data set, to check that what holds on two
/// sets of short queries holds elsewhere. Each fortune is one query, its lines
/// joined by single spaces; fortunes over [`FORTUNE_MAX_CHARS`] (the longest
/// 5 %), exact repeats across files, and the ASCII-art and untranslated files
/// are left out. `reply` is the next fortune of the file. `intent` is the file; `domain` is the file when its theme is
/// one topic ([`FORTUNE_TOPICS`], the files a topic scenario holds out) and
/// `mixed` otherwise.
pub fn fortunes(dir: &Path) -> Vec<Query> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/ensure-fortunes.sh)", dir.display()))
        .map(|e| e.expect("fortunes dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_none())
        .collect();
    files.sort();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if ["ascii-art", "translate-me", "pratchett"].contains(&name.as_str()) {
            continue;
        }
        let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let text = String::from_utf8_lossy(&raw);
        let domain = if FORTUNE_TOPICS.contains(&name.as_str()) {
            name.clone()
        } else {
            "mixed".to_string()
        };
        for f in text.split("\n%\n") {
            let f = f.split_whitespace().collect::<Vec<_>>().join(" ");
            if f.is_empty() || f == "%" || f.len() > FORTUNE_MAX_CHARS || !seen.insert(f.clone()) {
                continue;
            }
            out.push(Query {
                text: f,
                intent: name.clone(),
                domain: domain.clone(),
                reply: None,
            });
        }
        // Each fortune's reply is the next one of its file (the first for the
        // last): real text of the same theme on the output side too, so the
        // output tests meet long, varied answers, not a handful of templates.
        let first = out
            .iter()
            .position(|q| q.intent == name)
            .unwrap_or(out.len());
        let n = out.len() - first;
        for i in 0..n {
            out[first + i].reply = Some(out[first + (i + 1) % n].text.clone());
        }
    }
    out
}

/// Longest fortune kept, in bytes (the 95th percentile is ≈ 590).
pub const FORTUNE_MAX_CHARS: usize = 600;

/// Fortune files of one theme with at least 100 fortunes: the topics a
/// held-out scenario draws (one per seed, in turn). The rest (people,
/// definitions, cookie, miscellaneous, …) hold anything.
pub const FORTUNE_TOPICS: &[&str] = &[
    "computers",
    "drugs",
    "education",
    "food",
    "kids",
    "law",
    "linux",
    "love",
    "perl",
    "politics",
    "science",
    "sports",
    "startrek",
];

/// An embedder that answers from an in-memory map filled from (and appended
/// to) a file, and asks the real model only for texts it has never seen.
pub struct FileCachedEmbedder {
    inner: Box<dyn Embedder>,
    model_id: String,
    map: HashMap<String, Vec<f32>>,
    path: PathBuf,
    pub misses: usize,
}

impl FileCachedEmbedder {
    pub fn open(inner: Box<dyn Embedder>, dir: &Path) -> FileCachedEmbedder {
        let model_id = inner.model_id().to_string();
        let tag: String = model_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        std::fs::create_dir_all(dir).expect("cache dir");
        let path = dir.join(format!("{tag}.bin"));
        let mut map = HashMap::new();
        if let Ok(f) = std::fs::File::open(&path) {
            let mut r = BufReader::new(f);
            let dim = inner.dim();
            loop {
                let mut len = [0u8; 4];
                if r.read_exact(&mut len).is_err() {
                    break;
                }
                let mut text = vec![0u8; u32::from_le_bytes(len) as usize];
                let mut v = vec![0u8; 4 * dim];
                if r.read_exact(&mut text).is_err() || r.read_exact(&mut v).is_err() {
                    break; // a torn last record: ignore it
                }
                let v: Vec<f32> = v
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                map.insert(String::from_utf8(text).expect("utf-8"), v);
            }
        }
        FileCachedEmbedder {
            inner,
            model_id,
            map,
            path,
            misses: 0,
        }
    }

    /// Embeds every text not cached yet (in batches, with progress), appending to the file.
    pub fn warm(&mut self, texts: &[&str]) {
        let mut todo: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !self.map.contains_key(*t))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if todo.is_empty() {
            return;
        }
        eprintln!(
            "quality: embedding {} new texts (cached: {})",
            todo.len(),
            self.map.len()
        );
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .expect("cache file");
        let mut w = BufWriter::new(f);
        let started = std::time::Instant::now();
        for (i, chunk) in todo.chunks(512).enumerate() {
            let vs = self.inner.embed(chunk).expect("embedding");
            for (t, v) in chunk.iter().zip(vs) {
                w.write_all(&(t.len() as u32).to_le_bytes()).unwrap();
                w.write_all(t.as_bytes()).unwrap();
                for x in &v {
                    w.write_all(&x.to_le_bytes()).unwrap();
                }
                self.map.insert(t.to_string(), v);
            }
            w.flush().unwrap();
            eprintln!(
                "quality:   {} / {} ({:.0} texts/s)",
                ((i + 1) * 512).min(todo.len()),
                todo.len(),
                ((i + 1) * 512).min(todo.len()) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn get(&self, text: &str) -> Option<&Vec<f32>> {
        self.map.get(text)
    }
}

impl Embedder for FileCachedEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !self.map.contains_key(*t))
            .collect();
        if !missing.is_empty() {
            self.misses += missing.len();
            let vs = self.inner.embed(&missing)?;
            for (t, v) in missing.iter().zip(vs) {
                self.map.insert(t.to_string(), v);
            }
        }
        Ok(texts.iter().map(|t| self.map[*t].clone()).collect())
    }
}
