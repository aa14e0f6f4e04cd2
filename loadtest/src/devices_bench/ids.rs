//! How a send's answer names a message and how a phone's pull names it. FlixySMS answers the
//! message's 128-bit id as a UUID; a phone gets `<the same id in lowercase Crockford
//! base32>-<recipient index>` (the form of the native API's `msg_<id>`), so a send and the
//! pull that carried it can be paired without asking the server.

/// Crockford's base32 alphabet, lowercase, as Flit writes ids.
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// 26 characters of 5 bits hold 128 bits (the first carries 3).
const ENCODED_LEN: usize = 26;

/// The 128 bits of a hyphenated UUID, `None` when it is not one.
fn uuid_bits(uuid: &str) -> Option<u128> {
    let uuid = uuid.trim();
    if uuid.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (index, byte) in uuid.bytes().enumerate() {
        if matches!(index, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = char::from(byte).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

fn crockford(value: u128) -> String {
    (0..ENCODED_LEN)
        .map(|index| {
            let shift = 5 * (ENCODED_LEN - 1 - index);
            char::from(CROCKFORD[((value >> shift) & 0x1F) as usize])
        })
        .collect()
}

/// The id a phone pulls recipient `recipient` of the message FlixySMS answered as `uuid` by.
pub fn phone_message_id(uuid: &str, recipient: u32) -> Option<String> {
    uuid_bits(uuid).map(|bits| format!("{}-{recipient}", crockford(bits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flixy_uuid_reads_as_the_id_its_phone_pulls() {
        // A pair read from a live server: the native send answered
        // `msg_01m959f88yexz9f48b8wb1w128`, FlixySMS's status read it back as this UUID.
        assert_eq!(
            phone_message_id("01a24a97-a11e-777e-9791-0b47161e0448", 0).as_deref(),
            Some("01m959f88yexz9f48b8wb1w128-0")
        );
        assert_eq!(
            phone_message_id("01A24A97-A11E-777E-9791-0B47161E0448", 3).as_deref(),
            Some("01m959f88yexz9f48b8wb1w128-3")
        );
    }

    #[test]
    fn the_ends_of_the_range_encode_as_crockford_does() {
        assert_eq!(crockford(0), "0".repeat(26));
        assert_eq!(crockford(u128::MAX), format!("7{}", "z".repeat(25)));
        assert_eq!(crockford(31), format!("{}z", "0".repeat(25)));
    }

    #[test]
    fn what_is_not_a_uuid_has_no_phone_id() {
        assert_eq!(phone_message_id("msg_01m959f88yexz9f48b8wb1w128", 0), None);
        assert_eq!(
            phone_message_id("019af2c4x93c1-7d4a-b1c8-53a9e0b5cf27", 0),
            None
        );
        assert_eq!(
            phone_message_id("019af2c4-93c1-7d4a-b1c8-53a9e0b5cfzz", 0),
            None
        );
    }
}
