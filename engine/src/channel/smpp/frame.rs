//! How bytes from an SMSC become frames: each PDU is cut out by its command_length before
//! rusmpp decodes it, so a body rusmpp cannot decode costs that PDU, not the connection. Only
//! bytes that cannot be framed at all end a connection.

use rusmpp::Command;
use rusmpp::tokio_codec::{CommandCodec, DecodeError};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

/// Largest PDU accepted from an SMSC (rusmpp's default limit).
const MAX_COMMAND_LENGTH: usize = 8192;
/// The 16-octet PDU header: command_length, command_id, command_status, sequence_number.
const HEADER_LENGTH: usize = 16;

/// A frame as the session reads it: a decoded command, or a well-framed PDU whose body rusmpp
/// could not decode (its header is still known, so the stream goes on after it).
pub enum Frame {
    /// Boxed: a decoded command is large, and most frames are.
    Command(Box<Command>),
    Malformed(Malformed),
}

/// A well-framed PDU whose body rusmpp could not decode: what its header says, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub command_id: u32,
    pub command_status: u32,
    pub sequence: u32,
    pub error: String,
}

/// rusmpp's codec, behind a framing step that cuts each PDU out by its command_length first:
/// rusmpp's decoder leaves the stream mid-frame after a body it cannot decode, so it only ever
/// sees one whole frame here, and a bad body costs that PDU, not the connection.
pub struct FrameCodec {
    inner: CommandCodec,
}

impl FrameCodec {
    pub fn new() -> FrameCodec {
        FrameCodec {
            inner: CommandCodec::new(),
        }
    }
}

fn header_word(frame: &[u8], at: usize) -> u32 {
    frame
        .get(at..at + 4)
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        .map_or(0, u32::from_be_bytes)
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if src.len() < HEADER_LENGTH {
            return Ok(None);
        }
        let length = usize::try_from(header_word(src, 0)).unwrap_or(usize::MAX);
        if !(HEADER_LENGTH..=MAX_COMMAND_LENGTH).contains(&length) {
            // Unframeable: rusmpp reports why, and the connection cannot go on.
            return self
                .inner
                .decode(src)
                .map(|command| command.map(|command| Frame::Command(Box::new(command))));
        }
        if src.len() < length {
            src.reserve(length - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(length);
        let (command_id, command_status, sequence) = (
            header_word(&frame, 4),
            header_word(&frame, 8),
            header_word(&frame, 12),
        );
        // A fresh codec per frame: whatever happens inside, the next frame starts clean.
        self.inner = CommandCodec::new();
        let error = match self.inner.decode(&mut frame) {
            Ok(Some(command)) => return Ok(Some(Frame::Command(Box::new(command)))),
            Ok(None) => "truncated PDU".to_string(),
            Err(err) => err.to_string(),
        };
        Ok(Some(Frame::Malformed(Malformed {
            command_id,
            command_status,
            sequence,
            error,
        })))
    }
}

impl Encoder<Command> for FrameCodec {
    type Error = <CommandCodec as Encoder<Command>>::Error;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), Self::Error> {
        self.inner.encode(command, dst)
    }
}

/// Bytes as an SMSC sends them, cut into frames as a session's transport cuts them, for
/// fuzzing, which has no socket. Reading stops at the first error the codec returns, which is
/// where a session drops the connection (bytes that cannot be framed), and returns it too. An
/// incomplete last frame is left unread.
#[cfg(feature = "test-support")]
pub fn read_frames(bytes: &[u8]) -> (Vec<Frame>, Option<DecodeError>) {
    let mut codec = FrameCodec::new();
    let mut buffer = BytesMut::from(bytes);
    let mut frames = Vec::new();
    loop {
        match codec.decode(&mut buffer) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, None),
            Err(err) => return (frames, Some(err)),
        }
    }
}
