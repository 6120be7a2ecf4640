//! Cluster labels by class-based TF-IDF (c-TF-IDF).

use std::collections::HashMap;

/// Small built-in English stopword list (tokens shorter than 3 characters
/// are dropped separately, so short stopwords are omitted here).
const STOPWORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "and",
    "any",
    "are",
    "aren",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "can",
    "cannot",
    "could",
    "couldn",
    "did",
    "didn",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "into",
    "isn",
    "its",
    "itself",
    "just",
    "let",
    "more",
    "most",
    "mustn",
    "myself",
    "nor",
    "not",
    "now",
    "off",
    "once",
    "only",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "same",
    "shan",
    "she",
    "should",
    "shouldn",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "too",
    "under",
    "until",
    "very",
    "was",
    "wasn",
    "way",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|t| STOPWORDS.binary_search(&t.as_str()).is_err())
}

/// Top c-TF-IDF terms of every cluster.
///
/// # Definition
///
/// Tokenise: split on non-alphanumeric characters, lowercase, drop tokens
/// shorter than 3 characters and built-in English stopwords. For term `t`
/// and cluster `c` (all texts of `c` concatenated):
///
/// ```text
/// W(t, c) = tf(t, c) / Σ_t' tf(t', c) · ln(1 + A / f(t))
/// ```
///
/// with `tf` the count in the cluster, `f(t) = Σ_c tf(t, c)` the term's
/// frequency over all clusters and `A` the average number of (kept) tokens
/// per cluster over all `k` clusters. Each cluster's terms are sorted by
/// `W` descending (ties alphabetically) and the first `top_n` returned.
///
/// # Remarks
///
/// Never fails: `texts` and `assignments` are zipped (the longer one's tail
/// is ignored), assignments `≥ k` are ignored, and a cluster without tokens
/// gets an empty list. The result always has `k` entries.
///
/// # Reference
///
/// Grootendorst (2022), “BERTopic: Neural topic modeling with a class-based
/// TF-IDF procedure”, arXiv:2203.05794, eq. (1). Matches BERTopic's
/// `ClassTfidfTransformer` (`normalize(X, 'l1')` times
/// `log(1 + X.sum(1).mean() / X.sum(0))`).
pub fn cluster_labels(
    texts: &[&str],
    assignments: &[usize],
    k: usize,
    top_n: usize,
) -> Vec<Vec<(String, f64)>> {
    let mut tf: Vec<HashMap<String, usize>> = vec![HashMap::new(); k];
    for (text, &c) in texts.iter().zip(assignments) {
        if c >= k {
            continue;
        }
        for t in tokens(text) {
            *tf[c].entry(t).or_insert(0) += 1;
        }
    }
    let mut freq: HashMap<&str, usize> = HashMap::new();
    let mut total_tokens = 0usize;
    for counts in &tf {
        for (t, &n) in counts {
            *freq.entry(t.as_str()).or_insert(0) += n;
            total_tokens += n;
        }
    }
    if k == 0 {
        return Vec::new();
    }
    let avg = total_tokens as f64 / k as f64;
    tf.iter()
        .map(|counts| {
            let size: usize = counts.values().sum();
            let mut scored: Vec<(String, f64)> = counts
                .iter()
                .map(|(t, &n)| {
                    let idf = (1.0 + avg / freq[t.as_str()] as f64).ln();
                    (t.clone(), n as f64 / size as f64 * idf)
                })
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            scored.truncate(top_n);
            scored
        })
        .collect()
}

/// Human-readable cluster label from its top terms.
///
/// # Definition
///
/// The terms of `terms`, in order, joined with `", "`
/// (e.g. `"refund, order, invoice"`).
///
/// # Remarks
///
/// Never fails; no terms give `""`.
///
/// # Reference
///
/// Same as Python `", ".join(t for t, _ in terms)`.
pub fn join_label(terms: &[(String, f64)]) -> String {
    terms
        .iter()
        .map(|(t, _)| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTS: [&str; 7] = [
        "Refund my order please",
        "Where is my refund for order 123?",
        "refund refund",
        "Reset the password",
        "I forgot my password and cannot login",
        "login error",
        "the and of",
    ];
    const ASSIGN: [usize; 7] = [0, 0, 0, 1, 1, 1, 2];

    // Python 3.11 mirror of the definition (same stopword list, parsed from this file):
    //   tok=lambda t:[w for w in (x.lower() for x in re.split(r'[^0-9A-Za-z]+',t))
    //                 if len(w)>=3 and w not in STOP]
    //   tf[c]=Counter(tokens of cluster c); f=sum(tf); A=sum(f.values())/k
    //   score=n/sum(tf[c].values())*math.log(1+A/f[w]), sorted by (-score, w)[:3]
    // → [('refund', 0.4418227932762753), ('order', 0.3439922298074103), ('123', 0.24780015076972947)]
    //   [('login', 0.3439922298074103), ('password', 0.3439922298074103), ('error', 0.24780015076972947)]
    //   []
    #[test]
    fn c_tf_idf_matches_python_reference() {
        let labels = cluster_labels(&TEXTS, &ASSIGN, 3, 3);
        let want: [&[(&str, f64)]; 3] = [
            &[
                ("refund", 0.441_822_793_276_275_3),
                ("order", 0.343_992_229_807_410_3),
                ("123", 0.247_800_150_769_729_47),
            ],
            &[
                ("login", 0.343_992_229_807_410_3),
                ("password", 0.343_992_229_807_410_3),
                ("error", 0.247_800_150_769_729_47),
            ],
            &[],
        ];
        assert_eq!(labels.len(), 3);
        for (got, want) in labels.iter().zip(want) {
            assert_eq!(got.len(), want.len());
            for ((gt, gs), (wt, ws)) in got.iter().zip(want) {
                assert_eq!(gt, wt);
                assert!((gs - ws).abs() < 1e-15, "{gt}: {gs} vs {ws}");
            }
        }
        assert_eq!(join_label(&labels[0]), "refund, order, 123");
        assert_eq!(join_label(&labels[2]), "");
    }

    #[test]
    fn labels_tolerate_ragged_input() {
        let labels = cluster_labels(&TEXTS, &[0, 5], 2, 2);
        assert_eq!(labels.len(), 2);
        assert_eq!(join_label(&labels[0]), "order, refund");
        assert!(labels[1].is_empty());
        assert!(cluster_labels(&[], &[], 0, 3).is_empty());
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }
}
