//! A hand-written pre-tokenizer for pure-ASCII text that splits exactly as the
//! `o200k_base` and `cl100k_base` regular expressions do.
//!
//! A tiktoken encoding counts a text in two steps: a regular expression cuts
//! it into pieces (words with their leading space, runs of up to three digits,
//! punctuation, whitespace), and byte-pair encoding counts each piece alone.
//! On short English texts the regular expression is more than half the time
//! (`bpe-openai` runs it through `regex-automata`'s meta engine with Unicode
//! classes). Most logged LLM traffic is ASCII, where the Unicode classes
//! reduce to a few byte ranges, so a byte loop does the same cut in a fraction
//! of the time. Texts with any non-ASCII byte go to the library's splitter.
//!
//! Why hand-written: no crate offers the pre-tokenizer alone, and the rules
//! below are short. Exactness is not argued but tested: the unit tests compare
//! the pieces with `bpe-openai`'s own splitter on real text and on a million
//! random strings drawn from an alphabet of the characters the rules treat
//! differently (`cargo test --release --lib pretok -- --ignored` runs ten
//! million).
//!
//! # The rules, on ASCII
//!
//! With `U` = `A–Z`, `L` = `a–z`, `N` = `0–9`, `S` = `\t \n \x0B \x0C \r` and
//! space (Unicode `White_Space` within ASCII), `P` = any other byte, the
//! `o200k_base` pattern tried in order at each position is
//!
//! 1. `[^\r\n L N]? U* L+ C?` and 2. `[^\r\n L N]? U+ L* C?`, where `C` is a
//!    case-insensitive contraction `'s 't 're 've 'm 'll 'd`;
//! 3. `N{1,3}`;
//! 4. ` ? P+ [\r\n/]*`;
//! 5. `S* [\r\n]+`;
//! 6. `S+(?!\S)`, then `S+`.
//!
//! `cl100k_base` differs in rules 1–2 (`C | [^\r\n L N]? (U|L)+`, the
//! contraction standing alone and before the word) and rule 4 (`[\r\n]*`
//! without `/`).
//!
//! # Counting the pieces
//!
//! Byte-pair encoding counts each piece alone, and a piece's count depends on
//! its bytes only, so [`count_ascii`] remembers the counts of short pieces in a
//! small per-thread table (direct-mapped: a slot holds the piece's bytes and
//! its count, and a different piece landing on the slot replaces it). English
//! text is mostly a few thousand recurring words, so most pieces are found
//! there and the encoder, which allocates two buffers per call, runs for the
//! rest. The table compares whole pieces, so a hit is the count the encoder
//! would give.

/// Which pattern to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    O200k,
    Cl100k,
}

#[inline]
fn is_upper(b: u8) -> bool {
    b.is_ascii_uppercase()
}
#[inline]
fn is_lower(b: u8) -> bool {
    b.is_ascii_lowercase()
}
#[inline]
fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
}
#[inline]
fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}
/// `\s` restricted to ASCII: Unicode `White_Space` (0x1C–0x1F are not).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}
#[inline]
fn is_newline(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}
/// `[^\s\p{L}\p{N}]`.
#[inline]
fn is_punct(b: u8) -> bool {
    !is_space(b) && !is_letter(b) && !is_digit(b)
}
/// `[^\r\n\p{L}\p{N}]`: the optional character before a word.
#[inline]
fn is_word_prefix(b: u8) -> bool {
    !is_newline(b) && !is_letter(b) && !is_digit(b)
}

/// Length of a case-insensitive contraction (`'s 't 're 've 'm 'll 'd`) at
/// the start of `t`, or 0.
#[inline]
fn contraction(t: &[u8]) -> usize {
    if t.first() != Some(&b'\'') || t.len() < 2 {
        return 0;
    }
    let second = |c: u8| t.get(2).map(|b| b.to_ascii_lowercase()) == Some(c);
    match t[1].to_ascii_lowercase() {
        b's' | b't' | b'm' | b'd' => 2,
        b'r' | b'v' if second(b'e') => 3,
        b'l' if second(b'l') => 3,
        _ => 0,
    }
}

/// End of the run starting at `i` of bytes matching `f`.
#[inline]
fn run(t: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < t.len() && f(t[i]) {
        i += 1;
    }
    i
}

/// Slots of the per-thread piece table (a power of two), per pattern.
const SLOTS: usize = 4096;
/// Longest piece the table holds; longer ones always go to the encoder.
const MAX_CACHED: usize = 30;

#[derive(Clone, Copy)]
struct Slot {
    /// Piece length; 0 marks an empty slot (pieces are never empty).
    len: u8,
    count: u8,
    bytes: [u8; MAX_CACHED],
}

thread_local! {
    static PIECES: std::cell::RefCell<Vec<Slot>> = std::cell::RefCell::new(vec![
        Slot { len: 0, count: 0, bytes: [0; MAX_CACHED] };
        2 * SLOTS
    ]);
}

/// Number of tokens of the ASCII text `t` under `pattern`, counting each
/// piece with `encode` (the byte-pair encoder's count of one piece), through
/// the per-thread table of short pieces.
pub fn count_ascii(t: &[u8], pattern: Pattern, encode: impl Fn(&[u8]) -> usize) -> usize {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::FixedState::with_seed(0x7072_6574_6f6b);
    let offset = match pattern {
        Pattern::O200k => 0,
        Pattern::Cl100k => SLOTS,
    };
    PIECES.with(|table| {
        let mut table = table.borrow_mut();
        let mut n = 0;
        split_ascii(t, pattern, |piece| {
            n += match piece.len() {
                // Every byte is a token of a byte-level encoding.
                1 => 1,
                len if len <= MAX_CACHED => {
                    let slot = &mut table[offset + (hasher.hash_one(piece) as usize & (SLOTS - 1))];
                    if slot.len as usize == len && &slot.bytes[..len] == piece {
                        slot.count as usize
                    } else {
                        let count = encode(piece);
                        slot.len = len as u8;
                        slot.count = count as u8; // ≤ len ≤ 30
                        slot.bytes[..len].copy_from_slice(piece);
                        count
                    }
                }
                _ => encode(piece),
            }
        });
        n
    })
}

/// Calls `piece` with every piece of the ASCII text `t`, in order. The pieces
/// concatenate to `t`. Must only be called on ASCII (`debug_assert`ed).
pub fn split_ascii(t: &[u8], pattern: Pattern, mut piece: impl FnMut(&[u8])) {
    debug_assert!(t.is_ascii());
    let mut i = 0;
    while i < t.len() {
        let end = next_piece(t, i, pattern);
        debug_assert!(end > i);
        piece(&t[i..end]);
        i = end;
    }
}

/// End of the piece starting at `i` (`i < t.len()`).
fn next_piece(t: &[u8], i: usize, pattern: Pattern) -> usize {
    let n = t.len();
    let b = t[i];
    if pattern == Pattern::Cl100k {
        // `(?i:'s|'t|'re|'ve|'m|'ll|'d)` comes first in cl100k.
        let c = contraction(&t[i..]);
        if c > 0 {
            return i + c;
        }
    }
    // Rules 1–2: a word, with at most one non-letter, non-digit,
    // non-newline character before it.
    let word = if is_letter(b) {
        Some(i)
    } else if is_word_prefix(b) && i + 1 < n && is_letter(t[i + 1]) {
        Some(i + 1)
    } else {
        None
    };
    if let Some(j) = word {
        return match pattern {
            Pattern::Cl100k => run(t, j, is_letter),
            Pattern::O200k => {
                let k = run(t, j, is_upper);
                // `U* L+` when the capitals are followed by a small letter,
                // else `U+ L*` with `L*` empty.
                let m = if k < n && is_lower(t[k]) {
                    run(t, k, is_lower)
                } else {
                    k
                };
                m + contraction(&t[m..])
            }
        };
    }
    // Rule 3: up to three digits.
    if is_digit(b) {
        let mut e = i + 1;
        while e < n && e < i + 3 && is_digit(t[e]) {
            e += 1;
        }
        return e;
    }
    // Rule 4: punctuation, with an optional space before and newlines after.
    let p = if is_punct(b) {
        Some(i)
    } else if b == b' ' && i + 1 < n && is_punct(t[i + 1]) {
        Some(i + 1)
    } else {
        None
    };
    if let Some(j) = p {
        let e = run(t, j, is_punct);
        return match pattern {
            Pattern::O200k => run(t, e, |c| is_newline(c) || c == b'/'),
            Pattern::Cl100k => run(t, e, is_newline),
        };
    }
    // Rules 5–6: whitespace (`b` is whitespace here).
    let w = run(t, i, is_space);
    if let Some(q) = t[i..w].iter().rposition(|&c| is_newline(c)) {
        return i + q + 1;
    }
    if w == n || w - i == 1 {
        w
    } else {
        w - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(p: Pattern) -> &'static bpe_openai::Tokenizer {
        match p {
            Pattern::O200k => bpe_openai::o200k_base(),
            Pattern::Cl100k => bpe_openai::cl100k_base(),
        }
    }

    fn ours(t: &str, p: Pattern) -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = 0;
        split_ascii(t.as_bytes(), p, |piece| {
            out.push(&t[at..at + piece.len()]);
            at += piece.len();
        });
        out
    }

    fn check(t: &str) {
        for p in [Pattern::O200k, Pattern::Cl100k] {
            let lib = library(p);
            let theirs: Vec<&str> = lib.split(t).collect();
            assert_eq!(ours(t, p), theirs, "{p:?} splits {t:?} differently");
            assert_eq!(
                count_ascii(t.as_bytes(), p, |piece| lib.bpe.count(piece)),
                lib.count(t),
                "{p:?} counts {t:?} differently"
            );
        }
    }

    #[test]
    fn splits_like_the_library_on_hand_picked_cases() {
        for t in [
            "",
            "Hello WORLD, it's JSON's 'Re and we'LL go",
            "helloWorld HELLOworld ABc AB1 a1b2 12345 1234567",
            "  \n  foo\t.bar\r\n\r\n  \n x  ",
            "{\"answer\": \"Paris\", \"n\": 42}\n",
            "a/b//\n/c ./\n\n. ...!?",
            "don't I'm you're they've she'll he'd 'tis o'clock '",
            "\x0b\x0c\x1c\x1d x\x01y\x7f",
            "   ",
            " a",
            "a ",
            "'s's 'S 'LL 'lL 're're",
            "tab\there\t\tx \t y",
        ] {
            check(t);
        }
    }

    /// Strings from an alphabet of every class the rules tell apart, biased
    /// towards the interactions (apostrophes, spaces before punctuation,
    /// whitespace runs with newlines).
    fn random_strings(count: usize, seed: u64) -> impl Iterator<Item = String> {
        const ALPHABET: &[u8] = b"aZsSlLrReEvVtTmMdD09' \t\n\r\x0b\x0c\x1f/.,!-_\"{}";
        let mut state = seed | 1;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        (0..count).map(move |_| {
            let len = (next() % 24) as usize;
            (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
                .collect()
        })
    }

    /// The vendored BANKING77 queries, as written and as a JSON answer each:
    /// the same count as the library, the second time from the piece table.
    #[test]
    fn counts_like_the_library_on_real_text() {
        let csv = include_str!("../../tests/data/banking77/subset.csv");
        let texts: Vec<String> = csv
            .lines()
            .skip(1)
            .filter_map(|l| l.rsplit_once(','))
            .flat_map(|(q, intent)| {
                [
                    q.to_string(),
                    format!("{{\"intent\": \"{intent}\", \"answer\": \"{q}\"}}\n"),
                ]
            })
            .filter(|t| t.is_ascii())
            .collect();
        assert!(texts.len() > 2500, "{} texts", texts.len());
        for p in [Pattern::O200k, Pattern::Cl100k] {
            let lib = library(p);
            for _ in 0..2 {
                for t in &texts {
                    assert_eq!(
                        count_ascii(t.as_bytes(), p, |piece| lib.bpe.count(piece)),
                        lib.count(t.as_str()),
                        "{p:?} counts {t:?} differently"
                    );
                }
            }
        }
    }

    #[test]
    fn splits_like_the_library_on_random_strings() {
        for t in random_strings(200_000, 7) {
            check(&t);
        }
    }

    #[test]
    #[ignore = "ten million random strings; run with --release"]
    fn splits_like_the_library_on_ten_million_random_strings() {
        for t in random_strings(10_000_000, 11) {
            check(&t);
        }
    }
}
