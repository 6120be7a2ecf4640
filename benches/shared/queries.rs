//! Real user queries for the benches: every BANKING77 query (train, then
//! test) and every CLINC150 query, read from the shared data folder.

use std::path::Path;

pub fn real_queries(data: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in ["banking77/train.csv", "banking77/test.csv"] {
        let mut r = csv::Reader::from_path(data.join(f)).expect("BANKING77 csv");
        for rec in r.records() {
            out.push(rec.unwrap()[0].to_string());
        }
    }
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("clinc150/data_full.json")).expect("CLINC150 json"),
    )
    .unwrap();
    for split in v.as_object().unwrap().values() {
        for pair in split.as_array().unwrap() {
            out.push(pair[0].as_str().unwrap().to_string());
        }
    }
    out
}
