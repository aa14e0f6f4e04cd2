//! Number normalisation: any input with any country and both validation levels. A number that
//! is accepted has a known country code, writes out and reads back as itself, and its
//! international form parses to the same number from any default country.

#![no_main]

use flit_engine::{Country, MAX_DIGITS, MIN_DIGITS, Msisdn, Validation};
use libfuzzer_sys::fuzz_target;

/// Default countries with different trunk prefixes, number lengths and shared calling codes.
const COUNTRIES: [&str; 8] = ["GH", "GB", "US", "DE", "NG", "IT", "FR", "IN"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    let country: Country = COUNTRIES[usize::from(selector) % COUNTRIES.len()]
        .parse()
        .expect("a known country");
    let other: Country = COUNTRIES[usize::from(selector / 8) % COUNTRIES.len()]
        .parse()
        .expect("a known country");
    for validation in [Validation::Structural, Validation::Strict] {
        let Ok(number) = Msisdn::parse(input, country, validation) else {
            continue;
        };
        let digits = number.to_string();
        if validation == Validation::Structural {
            assert!(
                (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()),
                "{digits}"
            );
        }
        assert_ne!(
            number.country_code(),
            0,
            "{digits} has no known country code"
        );
        assert!(digits.starts_with(&number.country_code().to_string()));
        assert_eq!(
            digits.parse::<Msisdn>(),
            Ok(number),
            "{digits} does not read back"
        );
        assert_eq!(number.international(), format!("+{digits}"));
        assert_eq!(
            Msisdn::parse(&number.international(), other, validation),
            Ok(number),
            "{input:?} ({country}, {validation}) gave {digits}, whose international form does not"
        );
    }
});
