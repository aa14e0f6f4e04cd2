//! Distinct, valid-looking Ghana mobile numbers in local form (`0201234567`), so that no
//! request loses recipients to deduplication or strict validation.

/// Mobile prefixes that libphonenumber accepts with any seven subscriber digits.
pub const PREFIXES: [&str; 5] = ["020", "024", "054", "055", "050"];

/// Ghana's country code, which replaces a local number's leading `0` in international form.
const COUNTRY_CODE: &str = "233";

/// Subscriber numbers per prefix (seven digits).
const SUBSCRIBERS: u64 = 10_000_000;

/// The most distinct numbers one run can draw.
pub const MAX_NUMBERS: u64 = SUBSCRIBERS * PREFIXES.len() as u64;

/// Numbers `0..MAX_NUMBERS` mapped one to one onto phone numbers, starting from `offset`
/// (a per-run random shift, so that two runs do not send to the same numbers).
#[derive(Debug, Clone, Copy)]
pub struct NumberPlan {
    offset: u64,
}

impl NumberPlan {
    pub fn new(offset: u64) -> Self {
        Self {
            offset: offset % MAX_NUMBERS,
        }
    }

    /// The `index`th number of the run; distinct for distinct `index < MAX_NUMBERS`.
    pub fn number(&self, index: u64) -> String {
        let n = (self.offset + index % MAX_NUMBERS) % MAX_NUMBERS;
        let prefix_count = PREFIXES.len() as u64;
        let prefix = PREFIXES[usize::try_from(n % prefix_count).unwrap_or(0)];
        let subscriber = n / prefix_count;
        format!("{prefix}{subscriber:07}")
    }

    /// The `index`th number in international form without `+` (`233201234567`), as SMPP
    /// carries it with TON 1 (international) and NPI 1 (E.164).
    pub fn international(&self, index: u64) -> String {
        let local = self.number(index);
        format!("{COUNTRY_CODE}{}", &local[1..])
    }

    /// The numbers `start..end` of the run.
    pub fn batch(&self, start: u64, end: u64) -> Vec<String> {
        (start..end).map(|index| self.number(index)).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn looks_valid(number: &str) -> bool {
        number.len() == 10
            && number.bytes().all(|b| b.is_ascii_digit())
            && PREFIXES.iter().any(|prefix| number.starts_with(prefix))
    }

    #[test]
    fn numbers_are_distinct_and_valid_looking() {
        for offset in [0, 12_345, MAX_NUMBERS - 7] {
            let plan = NumberPlan::new(offset);
            let numbers = plan.batch(0, 100_000);
            assert!(numbers.iter().all(|n| looks_valid(n)), "{numbers:?}");
            let distinct: HashSet<&String> = numbers.iter().collect();
            assert_eq!(distinct.len(), numbers.len());
        }
    }

    #[test]
    fn the_plan_wraps_without_repeating_within_its_range() {
        let plan = NumberPlan::new(MAX_NUMBERS - 3);
        assert_eq!(plan.number(0), "0549999999");
        assert_eq!(plan.number(2), "0509999999");
        assert_eq!(plan.number(3), "0200000000");
        assert_eq!(plan.batch(10, 12), vec![plan.number(10), plan.number(11)]);
    }

    #[test]
    fn international_form_drops_the_trunk_zero_for_the_country_code() {
        let plan = NumberPlan::new(MAX_NUMBERS - 3);
        assert_eq!(plan.international(0), "233549999999");
        assert_eq!(plan.international(3), "233200000000");
    }
}
