//! Segmentation and number normalisation: the per-text and per-recipient work on the accept path.

// A bench is a harness like a test: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flit_engine::text;
use flit_engine::{Country, Msisdn, Validation};

fn segmentation(c: &mut Criterion) {
    let gsm_160: String = "Your code is 123456. It expires in 10 minutes. Do not share it. "
        .chars()
        .cycle()
        .take(160)
        .collect();
    let gsm_918: String = "Dear customer, your balance is GHS 120.50 (ref: A1) "
        .chars()
        .cycle()
        .take(918)
        .collect();
    // 60 BMP chars + 5 emoji (2 units each) = 70 UTF-16 units, one part.
    let ucs2_70 = format!(
        "{}{}",
        "Привет, мир! ".chars().cycle().take(60).collect::<String>(),
        "😀🎉👍🇬".chars().cycle().take(5).collect::<String>()
    );
    assert_eq!(text::analyse(&gsm_160).parts, 1);
    assert_eq!(text::analyse(&gsm_918).parts, 6);
    assert_eq!(text::analyse(&ucs2_70).units, 70);
    assert_eq!(text::analyse(&ucs2_70).parts, 1);

    let mut group = c.benchmark_group("segment");
    group.bench_function("analyse/gsm7_160", |b| {
        b.iter(|| text::analyse(black_box(&gsm_160)))
    });
    group.bench_function("analyse/gsm7_918", |b| {
        b.iter(|| text::analyse(black_box(&gsm_918)))
    });
    group.bench_function("analyse/ucs2_70_emoji", |b| {
        b.iter(|| text::analyse(black_box(&ucs2_70)))
    });
    group.bench_function("split/gsm7_918", |b| {
        b.iter(|| text::split(black_box(&gsm_918)))
    });
    group.finish();
}

fn numbers(c: &mut Criterion) {
    let gh: Country = "GH".parse().unwrap();
    let mut group = c.benchmark_group("msisdn");
    for (name, input) in [("local_gh", "0201234567"), ("intl_us", "+14155552671")] {
        for validation in [Validation::Strict, Validation::Structural] {
            assert!(Msisdn::parse(input, gh, validation).is_ok());
            group.bench_function(format!("parse/{validation}/{name}"), |b| {
                b.iter(|| Msisdn::parse(black_box(input), gh, validation))
            });
        }
    }
    // Distinct numbers, more than the verdict cache holds: every strict call is a miss and pays
    // for libphonenumber itself.
    let distinct_gh: Vec<String> = (0..400_000).map(|n| format!("020{:07}", n)).collect();
    let distinct_us: Vec<String> = (0..400_000)
        .map(|n| format!("+1415{:07}", 2_000_000 + n))
        .collect();
    for (name, inputs) in [("local_gh", &distinct_gh), ("intl_us", &distinct_us)] {
        for validation in [Validation::Strict, Validation::Structural] {
            let mut i = 0;
            group.bench_function(format!("parse_uncached/{validation}/{name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % inputs.len();
                    Msisdn::parse(black_box(&inputs[i]), gh, validation)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, segmentation, numbers);
criterion_main!(benches);
