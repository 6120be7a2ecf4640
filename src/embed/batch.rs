//! Batch planning for the local model: group texts so each model call pads little
//! and stays within a token budget. Pure index arithmetic, no model involved.

/// Split `lengths.len()` texts into batches of indices into `lengths`.
///
/// * `lengths[i]` is text `i`'s token count (after truncation; padding is to the
///   longest text of a batch, so a batch costs `max(lengths) × count` tokens).
/// * With `sort`, texts are visited shortest first (ties keep input order), so
///   texts of similar length share a batch; without it, in input order.
/// * A batch is closed when adding the next text would exceed `batch_size`
///   texts or `token_budget` padded tokens. A single text longer than the
///   budget still gets a batch of its own.
///
/// Every index appears exactly once. `batch_size` and `token_budget` of 0 are
/// treated as 1.
pub(crate) fn plan_batches(
    lengths: &[usize],
    batch_size: usize,
    token_budget: usize,
    sort: bool,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let token_budget = token_budget.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    if sort {
        order.sort_by_key(|&i| lengths[i]);
    }
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0usize;
    for i in order {
        let len = lengths[i].max(1);
        let new_longest = longest.max(len);
        let fits = current.len() < batch_size
            && new_longest.saturating_mul(current.len() + 1) <= token_budget;
        if !current.is_empty() && !fits {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(len);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers_all(batches: &[Vec<usize>], n: usize) {
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn respects_batch_size_in_input_order_when_unsorted() {
        let b = plan_batches(&[5, 1, 9, 2, 7], 2, 10_000, false);
        assert_eq!(b, vec![vec![0, 1], vec![2, 3], vec![4]]);
    }

    #[test]
    fn sorts_shortest_first_stably() {
        let b = plan_batches(&[5, 1, 9, 1, 7], 2, 10_000, true);
        assert_eq!(b, vec![vec![1, 3], vec![0, 4], vec![2]]);
    }

    #[test]
    fn respects_token_budget() {
        // Budget 20: [4,4,4,4,4] fits 5 texts of 4 tokens (20), then 10-token texts 2 per batch.
        let lens = [4, 10, 4, 10, 4, 4, 4, 10];
        let b = plan_batches(&lens, 32, 20, true);
        covers_all(&b, lens.len());
        for batch in &b {
            let longest = batch.iter().map(|&i| lens[i]).max().unwrap();
            assert!(longest * batch.len() <= 20, "{batch:?}");
        }
        assert_eq!(b, vec![vec![0, 2, 4, 5, 6], vec![1, 3], vec![7]]);
    }

    #[test]
    fn oversized_text_gets_its_own_batch() {
        let b = plan_batches(&[300, 2, 2], 32, 256, false);
        assert_eq!(b, vec![vec![0], vec![1, 2]]);
    }

    #[test]
    fn empty_and_degenerate_inputs() {
        assert!(plan_batches(&[], 32, 100, true).is_empty());
        let b = plan_batches(&[0, 0, 0], 0, 0, true);
        covers_all(&b, 3);
        assert!(b.iter().all(|x| x.len() == 1));
    }

    #[test]
    fn many_random_lengths_cover_everything() {
        let mut x: u64 = 42;
        let lens: Vec<usize> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 256) as usize + 1
            })
            .collect();
        for sort in [false, true] {
            let b = plan_batches(&lens, 64, 8192, sort);
            covers_all(&b, lens.len());
            assert!(b.iter().all(|batch| batch.len() <= 64));
        }
    }
}
