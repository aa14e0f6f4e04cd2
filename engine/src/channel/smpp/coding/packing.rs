//! GSM-7 septet packing in both directions, with the fill bits that align septets after a
//! UDH and the CR rules that keep padding from being read as text (TS 23.038 §6.1.2.3.1).

use crate::text;

/// Fill bits between a UDH of `header_octets` (UDHL included) and the first packed septet.
pub fn udh_fill_bits(header_octets: usize) -> usize {
    (7 - (header_octets * 8) % 7) % 7
}

/// Packs septets after `fill` zero bits (3GPP TS 23.040 §9.2.3.24: septets after a UDH start on
/// a septet boundary). Built on [`text::gsm7_pack`], shifted. When the last octet would end
/// with 7 spare bits, they hold CR rather than zeros, which a receiver would read as `@`
/// (TS 23.038 §6.1.2.3.1).
pub fn pack_septets(septets: &[u8], fill: usize) -> Vec<u8> {
    let packed = text::gsm7_pack(septets);
    let total_bits = fill + 7 * septets.len();
    let mut out = vec![0_u8; total_bits.div_ceil(8)];
    if fill == 0 {
        out[..packed.len()].copy_from_slice(&packed);
    } else {
        for (i, byte) in packed.iter().enumerate() {
            let wide = u16::from(*byte) << fill;
            out[i] |= (wide & 0xFF) as u8;
            if let Some(next) = out.get_mut(i + 1) {
                *next |= (wide >> 8) as u8;
            }
        }
    }
    if total_bits % 8 == 1
        && let Some(last) = out.last_mut()
    {
        *last |= 0x0D << 1;
    }
    out
}

/// User data octets of one SMS on the air interface, the UDH included.
const MAX_USER_DATA_OCTETS: usize = 140;

/// [`pack_septets`] after a UDH of `header_octets` (0 for none). A CR that is the last septet
/// and ends on an octet boundary looks like CR padding, which a receiver drops, so a second CR
/// follows it (CR CR means CR; TS 23.038 §6.1.2.3.1), if the user data has room for one.
pub(super) fn pack_user_data(septets: &[u8], header_octets: usize) -> Vec<u8> {
    let fill = udh_fill_bits(header_octets);
    let mut packed = pack_septets(septets, fill);
    if (fill + 7 * septets.len()).is_multiple_of(8)
        && septets.last() == Some(&0x0D)
        && header_octets + packed.len() < MAX_USER_DATA_OCTETS
    {
        packed.push(0x0D);
    }
    packed
}

/// Septets packed after `fill` bits; a trailing CR that only pads the last octet is dropped.
pub fn unpack_septets(packed: &[u8], fill: usize) -> Vec<u8> {
    let bits = (packed.len() * 8).saturating_sub(fill);
    let count = bits / 7;
    let aligned: Vec<u8> = if fill == 0 {
        packed.to_vec()
    } else {
        (0..packed.len())
            .map(|i| {
                let low = packed[i] >> fill;
                let high = packed.get(i + 1).map_or(0, |b| b << (8 - fill));
                low | high
            })
            .collect()
    };
    let mut septets = text::gsm7_unpack(&aligned, count);
    if bits.is_multiple_of(7) && septets.last() == Some(&0x0D) && count > 0 {
        septets.pop();
    }
    septets
}
