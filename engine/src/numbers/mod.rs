//! Phone numbers. This module owns [`Msisdn`] (an E.164 number stored as its digits in a `u64`),
//! turning what users type into one (local forms with the tenant's default [`Country`], `+`/`00`
//! international forms, common separators), and the two levels of checking from SPEC §3:
//! *strict* is exactly the `phonenumber` crate's (libphonenumber's) verdict, *structural* is a
//! known country calling code and 8–15 digits.
//!
//! Speed: this runs once per recipient on the accept path. Normalising and structural checks are
//! done by hand without allocating. The `phonenumber` crate is regex-based and slow (its regexes
//! live in one global `Mutex`ed LRU of 100 entries keyed by the pattern's source text, which
//! thrashes as soon as numbers from more than a couple of countries are mixed: ~1.4 ms a number),
//! so strict checking widens that LRU once and keeps libphonenumber's verdicts in a bounded,
//! sharded in-process cache keyed by the normalised digits.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;
use std::sync::{LazyLock, Mutex, Once};

use phonenumber::metadata::DATABASE;
use serde::{Deserialize, Serialize};

/// E.164 bounds for structural checking, country code included.
pub const MIN_DIGITS: usize = 8;
pub const MAX_DIGITS: usize = 15;

/// Digits kept while normalising: the most a `u64` holds whole. libphonenumber allows national
/// numbers of up to 17 digits, so strict mode may accept a few numbers longer than 15; none is
/// longer than this.
const MAX_INPUT_DIGITS: usize = 19;

/// A phone number in E.164 form without the `+`, e.g. `233201234567`. Its leading digits are
/// always a known country calling code.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Msisdn(u64);

#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MsisdnError {
    #[error("the phone number is empty")]
    Empty,
    #[error(
        "the phone number contains `{found}`; only digits, spaces, dashes, dots, parentheses \
         and a leading + are allowed"
    )]
    Character { found: char },
    #[error("the phone number has no digits")]
    NoDigits,
    #[error("the phone number has {digits} digits; at least 8 are needed, country code included")]
    TooShort { digits: usize },
    #[error("the phone number has {digits} digits; at most 15 are allowed, country code included")]
    TooLong { digits: usize },
    #[error("the phone number does not start with a known country calling code")]
    UnknownCountryCode,
    #[error("the phone number is not a valid number")]
    Invalid,
}

/// How hard [`Msisdn::parse`] looks at a number.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// libphonenumber says the number is valid (a real number range of that country).
    #[default]
    Strict,
    /// A known country calling code and 8–15 digits; what FlixySMS and Flowstates accept.
    Structural,
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validation::Strict => "strict",
            Validation::Structural => "structural",
        })
    }
}

impl FromStr for Validation {
    type Err = ValidationParseError;

    fn from_str(s: &str) -> Result<Validation, ValidationParseError> {
        if s.eq_ignore_ascii_case("strict") {
            Ok(Validation::Strict)
        } else if s.eq_ignore_ascii_case("structural") {
            Ok(Validation::Structural)
        } else {
            Err(ValidationParseError)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("number validation is either `strict` or `structural`")]
pub struct ValidationParseError;

/// A country, for reading local number forms. Only countries the phone number metadata knows can
/// be made, so [`Country::calling_code`] always has an answer.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Country(phonenumber::country::Id);

impl Country {
    /// Ghana: the default country, so the FlashSMS examples' local numbers work as written.
    pub const GHANA: Country = Country(phonenumber::country::Id::GH);

    pub fn from_id(id: phonenumber::country::Id) -> Option<Country> {
        DATABASE.by_id(id.as_ref()).map(|_| Country(id))
    }

    pub fn id(self) -> phonenumber::country::Id {
        self.0
    }

    /// The country calling code, e.g. 233 for GH.
    pub fn calling_code(self) -> u16 {
        self.metadata().map_or(0, |meta| meta.country_code())
    }

    fn metadata(self) -> Option<&'static phonenumber::Metadata> {
        DATABASE.by_id(self.0.as_ref())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

impl FromStr for Country {
    type Err = CountryParseError;

    fn from_str(s: &str) -> Result<Country, CountryParseError> {
        let upper = s.trim().to_ascii_uppercase();
        upper
            .parse::<phonenumber::country::Id>()
            .ok()
            .and_then(Country::from_id)
            .ok_or(CountryParseError)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a two-letter ISO 3166 country code such as GH")]
pub struct CountryParseError;

impl Msisdn {
    /// Reads what a user typed. Separators (spaces, dashes, dots, parentheses) are ignored; a
    /// leading `+` or `00` marks an international number, anything else is read as a number of
    /// `default_country` (which may already start with its country code, as in `233201234567`).
    pub fn parse(
        input: &str,
        default_country: Country,
        validation: Validation,
    ) -> Result<Msisdn, MsisdnError> {
        let digits = Digits::read(input)?;
        match validation {
            Validation::Structural => structural(&digits, default_country),
            Validation::Strict => strict(&digits, default_country),
        }
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `+` and the digits, e.g. `+233201234567`.
    pub fn international(&self) -> String {
        format!("+{}", self.0)
    }

    /// The country calling code, e.g. 233.
    pub fn country_code(&self) -> u16 {
        let width = decimal_width(self.0);
        (1..=3)
            .filter_map(|len| {
                let code = self.0 / 10_u64.pow(width.saturating_sub(len));
                u16::try_from(code).ok().filter(|code| is_known_code(*code))
            })
            .next()
            .unwrap_or(0)
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses the stored digit form (`233201234567`, a leading `+` tolerated), checking only that it
/// starts with a known country calling code: it reads back what `Display` wrote.
impl FromStr for Msisdn {
    type Err = MsisdnError;

    fn from_str(s: &str) -> Result<Msisdn, MsisdnError> {
        let body = s.strip_prefix('+').unwrap_or(s);
        if body.is_empty() {
            return Err(MsisdnError::NoDigits);
        }
        if let Some(found) = body.chars().find(|c| !c.is_ascii_digit()) {
            return Err(MsisdnError::Character { found });
        }
        if body.len() > MAX_INPUT_DIGITS {
            return Err(MsisdnError::TooLong { digits: body.len() });
        }
        let value = digits_value(body.as_bytes());
        if body.starts_with('0') || !has_known_code(body.as_bytes()) {
            return Err(MsisdnError::UnknownCountryCode);
        }
        Ok(Msisdn(value))
    }
}

/// The digits of an input, with separators gone and any `+`/`00` noted and removed.
struct Digits {
    // Two more than kept, so a `00` prefix can be read before it is dropped.
    buf: [u8; MAX_INPUT_DIGITS + 2],
    len: usize,
    international: bool,
}

impl Digits {
    fn read(input: &str) -> Result<Digits, MsisdnError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(MsisdnError::Empty);
        }
        let (body, plus) = match input.strip_prefix('+') {
            Some(rest) => (rest, true),
            None => (input, false),
        };
        let mut digits = Digits {
            buf: [0; MAX_INPUT_DIGITS + 2],
            len: 0,
            international: plus,
        };
        let mut count = 0;
        for (i, b) in body.bytes().enumerate() {
            match b {
                b'0'..=b'9' => {
                    if let Some(slot) = digits.buf.get_mut(count) {
                        *slot = b;
                    }
                    count += 1;
                }
                b' ' | b'-' | b'.' | b'(' | b')' => {}
                _ => {
                    // Every byte before `i` was ASCII, so `i` is a char boundary.
                    let found = body[i..].chars().next().unwrap_or('?');
                    return Err(MsisdnError::Character { found });
                }
            }
        }
        if count == 0 {
            return Err(MsisdnError::NoDigits);
        }
        let mut start = 0;
        if !plus && count >= 2 && digits.buf[..2] == *b"00" {
            digits.international = true;
            start = 2;
            count -= 2;
        }
        if count > MAX_INPUT_DIGITS {
            return Err(MsisdnError::TooLong { digits: count });
        }
        digits.buf.copy_within(start..start + count, 0);
        digits.len = count;
        Ok(digits)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits are ever written to `buf`.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

fn structural(digits: &Digits, country: Country) -> Result<Msisdn, MsisdnError> {
    let national_form;
    let e164: &[u8] = if digits.international {
        digits.as_bytes()
    } else {
        national_form = national_to_e164(digits.as_bytes(), country);
        national_form.as_bytes()
    };
    if e164.len() < MIN_DIGITS {
        return Err(MsisdnError::TooShort { digits: e164.len() });
    }
    if e164.len() > MAX_DIGITS {
        return Err(MsisdnError::TooLong { digits: e164.len() });
    }
    if e164[0] == b'0' || !has_known_code(e164) {
        return Err(MsisdnError::UnknownCountryCode);
    }
    Ok(Msisdn(digits_value(e164)))
}

/// A small stack buffer for a country code plus national digits.
struct E164Buf {
    buf: [u8; MAX_INPUT_DIGITS + 3],
    len: usize,
}

impl E164Buf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Structural reading of a local form, from the country's metadata without its regexes, after
/// libphonenumber's own rule but judging by length only: a leading national (trunk) prefix is
/// dropped unless only the undropped length is one the country uses; digits that start with the
/// country code are taken as international when they are longer than the country's mobile
/// numbers and what follows the code has a length the country uses (so GH `233201234567` and IT
/// `393912345678` are international while IT `3912345678`, a mobile starting with 39, is not);
/// otherwise the country code goes in front.
fn national_to_e164(digits: &[u8], country: Country) -> E164Buf {
    let mut out = E164Buf {
        buf: [0; MAX_INPUT_DIGITS + 3],
        len: 0,
    };
    let Some(meta) = country.metadata() else {
        out.buf[..digits.len()].copy_from_slice(digits);
        out.len = digits.len();
        return out;
    };
    let code = meta.country_code();
    let mut code_digits = [0_u8; 3];
    let code_len = write_decimal(u64::from(code), &mut code_digits);
    let code_digits = &code_digits[..code_len];
    let lengths = possible_lengths(meta);
    let possible = |len: usize| lengths & 1_u32.checked_shl(len as u32).unwrap_or(0) != 0;

    let prefix = meta.national_prefix().unwrap_or("").as_bytes();
    let longest_mobile = meta
        .descriptors()
        .mobile()
        .and_then(|mobile| mobile.possible_length().iter().max())
        .map_or(MAX_DIGITS, |len| usize::from(*len));
    let national: &[u8] = if !prefix.is_empty()
        && digits.starts_with(prefix)
        && (possible(digits.len() - prefix.len()) || !possible(digits.len()))
    {
        &digits[prefix.len()..]
    } else if digits.starts_with(code_digits)
        && digits.len() > longest_mobile
        && possible(digits.len() - code_len)
    {
        out.buf[..digits.len()].copy_from_slice(digits);
        out.len = digits.len();
        return out;
    } else {
        digits
    };
    out.buf[..code_len].copy_from_slice(code_digits);
    out.buf[code_len..code_len + national.len()].copy_from_slice(national);
    out.len = code_len + national.len();
    out
}

/// National number lengths the region uses, as a bit set. The crate leaves the general
/// descriptor's lengths empty, so this is the union over the number types.
fn possible_lengths(meta: &phonenumber::Metadata) -> u32 {
    let d = meta.descriptors();
    [
        d.mobile(),
        d.fixed_line(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    .flat_map(|desc| desc.possible_length())
    .fold(0, |set, len| {
        set | 1_u32.checked_shl(u32::from(*len)).unwrap_or(0)
    })
}

fn strict(digits: &Digits, country: Country) -> Result<Msisdn, MsisdnError> {
    // International forms are read without the default country: the crate would otherwise strip
    // the *default* country's national prefix from the foreign number (with GH as default,
    // `+39 02 3661 8300` loses its leading 0 and becomes invalid), which libphonenumber does not do.
    let key = cache_key(digits, country);
    if let Some(verdict) = VERDICTS.get(key) {
        return verdict;
    }
    let verdict = libphonenumber_verdict(digits, country).and_then(|number| {
        if reads_back(number, digits, country) {
            Ok(number)
        } else {
            Err(MsisdnError::Invalid)
        }
    });
    VERDICTS.insert(key, verdict);
    verdict
}

/// Whether the crate also accepts `number`, written as `+` and its digits, as itself. It can
/// answer with a number it then refuses: it strips a national prefix even from an international
/// number (`+7 888 031 008103` came back as `+7 803 100 8103`, which it calls invalid), so the
/// answer would be another subscriber's number that Flit could never read back.
fn reads_back(number: Msisdn, digits: &Digits, country: Country) -> bool {
    let typed = digits.international && digits.as_str() == number.to_string();
    typed
        || plainly_local(number, digits, country)
        || Digits::read(&number.international())
            .is_ok_and(|again| libphonenumber_verdict(&again, country) == Ok(number))
}

/// The answer is the typed local digits after the country code, without one trunk `0`, and
/// the national part does not begin with `0` (which a second reading could strip): nothing was
/// dropped or rewritten, so there is nothing to read back. Spares the second parse for the
/// usual local numbers (`0201234567` in GH is +233201234567).
fn plainly_local(number: Msisdn, digits: &Digits, country: Country) -> bool {
    if digits.international {
        return false;
    }
    let answer = number.to_string();
    let Some(national) = answer.strip_prefix(&country.calling_code().to_string()) else {
        return false;
    };
    let typed = digits.as_str();
    !national.starts_with('0') && typed.strip_prefix('0').unwrap_or(typed) == national
}

/// Exactly the `phonenumber` crate's answer, uncached.
fn libphonenumber_verdict(digits: &Digits, country: Country) -> Result<Msisdn, MsisdnError> {
    widen_regex_cache();
    let parsed = if digits.international {
        let mut text = String::with_capacity(digits.len + 1);
        text.push('+');
        text.push_str(digits.as_str());
        phonenumber::parse(None, text)
    } else {
        phonenumber::parse(Some(country.0), digits.as_str())
    };
    match parsed {
        Ok(number) if number.is_valid() => e164_of(&number),
        Ok(_) => Err(MsisdnError::Invalid),
        Err(phonenumber::ParseError::InvalidCountryCode) => Err(MsisdnError::UnknownCountryCode),
        Err(_) => Err(MsisdnError::Invalid),
    }
}

fn e164_of(number: &phonenumber::PhoneNumber) -> Result<Msisdn, MsisdnError> {
    let too_long = MsisdnError::TooLong {
        digits: MAX_INPUT_DIGITS + 1,
    };
    let national = number.national();
    let mut value = u64::from(number.code().value());
    for _ in 0..national.zeros() {
        value = value.checked_mul(10).ok_or(too_long)?;
    }
    let nsn = national.value();
    let width = if nsn == 0 { 0 } else { decimal_width(nsn) };
    value = 10_u64
        .checked_pow(width)
        .and_then(|scale| value.checked_mul(scale))
        .and_then(|v| v.checked_add(nsn))
        .ok_or(too_long)?;
    Ok(Msisdn(value))
}

/// The crate's default regex LRU holds 100 compiled patterns for ~250 regions; mixing numbers
/// from a few countries recompiles regexes on every call (milliseconds each). Holding all of them
/// costs memory only for the regions actually seen.
fn widen_regex_cache() {
    static WIDEN: Once = Once::new();
    WIDEN.call_once(|| {
        if let Ok(mut cache) = DATABASE.cache().lock() {
            cache.set_capacity(REGEX_CACHE_CAPACITY);
        }
    });
}

const REGEX_CACHE_CAPACITY: usize = 8192;

/// Calling codes the metadata knows (country and non-geographic), indexed by code.
static KNOWN_CODES: LazyLock<[bool; 1000]> = LazyLock::new(|| {
    let mut known = [false; 1000];
    for (code, slot) in known.iter_mut().enumerate() {
        if let Ok(code) = u16::try_from(code) {
            *slot = code > 0 && DATABASE.region(&code).is_some();
        }
    }
    known
});

fn is_known_code(code: u16) -> bool {
    KNOWN_CODES.get(usize::from(code)).copied().unwrap_or(false)
}

/// Calling codes are prefix-free (ITU E.164), so at most one of the first 1–3 digits matches.
fn has_known_code(digits: &[u8]) -> bool {
    (1..=3.min(digits.len())).any(|len| {
        let code = digits[..len]
            .iter()
            .fold(0_u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        is_known_code(code)
    })
}

/// Value of at most 19 ASCII digits (always fits a `u64`).
fn digits_value(digits: &[u8]) -> u64 {
    digits.iter().fold(0_u64, |acc, d| {
        acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    })
}

fn decimal_width(value: u64) -> u32 {
    value.checked_ilog10().map_or(1, |log| log + 1)
}

/// Writes `value` in decimal at the start of `out`, returning the length.
fn write_decimal(value: u64, out: &mut [u8]) -> usize {
    let width = (decimal_width(value) as usize).min(out.len());
    let mut rest = value;
    for slot in out[..width].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    width
}

// ---- verdict cache ----

type Verdict = Result<Msisdn, MsisdnError>;

/// Verdicts are pure functions of (digits, international?, default country), so caching them is
/// exact. Two generations per shard bound the memory: when `current` fills, it becomes
/// `previous` (the old `previous` is dropped) and hits in `previous` are promoted, which keeps the
/// numbers a tenant sends to repeatedly while letting one-off numbers age out.
struct VerdictCache {
    shards: [Mutex<Generations>; SHARDS],
}

const SHARDS: usize = 16;
const SHARD_GENERATION: usize = 4096;

#[derive(Default)]
struct Generations {
    current: HashMap<u128, Verdict, BuildHasherDefault<KeyHasher>>,
    previous: HashMap<u128, Verdict, BuildHasherDefault<KeyHasher>>,
}

static VERDICTS: LazyLock<VerdictCache> = LazyLock::new(|| VerdictCache {
    shards: std::array::from_fn(|_| Mutex::new(Generations::default())),
});

impl VerdictCache {
    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, Generations> {
        let mut hasher = KeyHasher::default();
        hasher.write_u128(key);
        let index = (hasher.finish() >> 59) as usize % SHARDS;
        // A poisoned shard holds plain verdicts written whole; it is still correct.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: u128) -> Option<Verdict> {
        let mut shard = self.shard(key);
        if let Some(verdict) = shard.current.get(&key) {
            return Some(*verdict);
        }
        let verdict = shard.previous.remove(&key)?;
        shard.insert(key, verdict);
        Some(verdict)
    }

    fn insert(&self, key: u128, verdict: Verdict) {
        self.shard(key).insert(key, verdict);
    }
}

impl Generations {
    fn insert(&mut self, key: u128, verdict: Verdict) {
        if self.current.len() >= SHARD_GENERATION {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        self.current.insert(key, verdict);
    }
}

/// digits value | digit count (leading zeros matter) | international flag | default country.
/// International forms ignore the default country, so tenants share those entries.
fn cache_key(digits: &Digits, country: Country) -> u128 {
    let value = u128::from(digits_value(digits.as_bytes()));
    let len = (digits.len as u128) << 64;
    if digits.international {
        value | len | (1 << 69)
    } else {
        value | len | ((country.0 as u128) << 70)
    }
}

/// The keys are already well spread integers; one multiply-xorshift is enough and much cheaper
/// than SipHash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, value: u128) {
        let folded = (value as u64) ^ ((value >> 64) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let mixed = (self.0 ^ folded).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = mixed ^ (mixed >> 32);
    }
}

#[cfg(test)]
mod tests;
