//! Range scans: the `Scan` request, the `Page` answer, and the bound arithmetic both backends share
//! (cursor tightening, prefix ranges, empty-range detection), so that the two cannot disagree.

use std::ops::Bound;

use crate::StorageError;

/// An ordered range read over one tree, one page at a time.
///
/// Keys are compared as bytes. `start`/`end` bound the range; `after` is a paging cursor (the
/// `next` of the previous [`Page`]): a forward scan resumes strictly after it, a reverse scan
/// strictly before it. At most `limit` items are returned; `limit == 0` returns an empty page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub tree: &'static str,
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    pub limit: usize,
    pub reverse: bool,
}

impl Scan {
    /// Every key of `tree` that starts with `prefix` (all of them when `prefix` is empty),
    /// forward, unlimited.
    pub fn prefix(tree: &'static str, prefix: &[u8]) -> Self {
        Scan::range(tree, Bound::Included(prefix.to_vec()), prefix_end(prefix))
    }

    /// Every key of `tree` within `start..end`, forward, unlimited.
    pub fn range(tree: &'static str, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Self {
        Scan {
            tree,
            start,
            end,
            after: None,
            limit: usize::MAX,
            reverse: false,
        }
    }

    /// Returns at most `n` items.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// Resumes after `cursor` (before it when reversed), normally the previous page's `next`.
    pub fn after(mut self, cursor: Vec<u8>) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Walks the range from the highest key down.
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// The bounds left once the cursor is applied, or `None` when nothing can match (an inverted
    /// or empty range; the backends' range functions may panic on those, so they never see one).
    pub(crate) fn effective_bounds(&self) -> Option<KeyBounds> {
        let mut lower = self.start.clone();
        let mut upper = self.end.clone();
        if let Some(cursor) = &self.after {
            if self.reverse {
                upper = tighter_upper(upper, Bound::Excluded(cursor.clone()));
            } else {
                lower = tighter_lower(lower, Bound::Excluded(cursor.clone()));
            }
        }
        let empty = match (&lower, &upper) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (
                Bound::Included(low) | Bound::Excluded(low),
                Bound::Included(high) | Bound::Excluded(high),
            ) => low >= high,
            _ => false,
        };
        (!empty).then_some((lower, upper))
    }
}

/// A lower and an upper key bound.
pub(crate) type KeyBounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// One page of a [`Scan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Key/value pairs in scan order.
    pub items: Vec<(Vec<u8>, Vec<u8>)>,
    /// The last returned key when more items remain: pass it to [`Scan::after`] for the next page.
    /// `None` means the scan is complete.
    pub next: Option<Vec<u8>>,
}

/// The exclusive upper bound of all keys starting with `prefix`: the prefix with its trailing
/// 0xFF bytes dropped and the last remaining byte incremented, or unbounded if none remains.
pub fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Takes up to `limit` items from `iter` (already in scan order) and reads one more to learn
/// whether `next` must be set.
pub(crate) fn collect_page<I>(mut iter: I, limit: usize) -> Result<Page, StorageError>
where
    I: Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>>,
{
    let mut items = Vec::with_capacity(limit.min(256));
    if limit == 0 {
        return Ok(Page::default());
    }
    while items.len() < limit {
        match iter.next() {
            Some(item) => items.push(item?),
            None => return Ok(Page { items, next: None }),
        }
    }
    let more = iter.next().transpose()?.is_some();
    let next = if more {
        items.last().map(|(key, _)| key.clone())
    } else {
        None
    };
    Ok(Page { items, next })
}

fn tighter_lower(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x > y {
                a
            } else if y > x {
                b
            } else if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
    }
}

fn tighter_upper(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x < y {
                a
            } else if y < x {
                b
            } else if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"ab"), Bound::Excluded(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff, 0xff]), Bound::Excluded(vec![2]));
        assert_eq!(prefix_end(&[0xff]), Bound::Unbounded);
        assert_eq!(prefix_end(b""), Bound::Unbounded);
    }

    #[test]
    fn cursor_tightens_the_range_and_inverted_ranges_are_empty() {
        let scan = Scan::range(
            "t",
            Bound::Included(b"b".to_vec()),
            Bound::Included(b"d".to_vec()),
        );
        assert_eq!(
            scan.clone().after(b"c".to_vec()).effective_bounds(),
            Some((
                Bound::Excluded(b"c".to_vec()),
                Bound::Included(b"d".to_vec())
            ))
        );
        assert_eq!(
            scan.clone().after(b"a".to_vec()).effective_bounds(),
            Some((
                Bound::Included(b"b".to_vec()),
                Bound::Included(b"d".to_vec())
            ))
        );
        assert_eq!(
            scan.clone()
                .reverse()
                .after(b"c".to_vec())
                .effective_bounds(),
            Some((
                Bound::Included(b"b".to_vec()),
                Bound::Excluded(b"c".to_vec())
            ))
        );
        assert_eq!(scan.clone().after(b"d".to_vec()).effective_bounds(), None);
        assert_eq!(scan.reverse().after(b"b".to_vec()).effective_bounds(), None);
        let inverted = Scan::range(
            "t",
            Bound::Included(b"z".to_vec()),
            Bound::Excluded(b"a".to_vec()),
        );
        assert_eq!(inverted.effective_bounds(), None);
    }
}
