//! Server-Sent Events framing as the app's client reads it (OkHttp's `ServerSentEventReader`):
//! lines end in `\r\n`, `\r` or `\n`; `data:` and `event:` take one optional space; an event
//! with no `data:` line is dropped; `id:`, `retry:`, comments and unknown fields are ignored;
//! the event type resets after each event; a partial event at end of stream is lost.

/// One dispatched event: `name` is `None` when the event had no `event:` line (the app reads
/// that as `MessageEnqueued`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: Option<String>,
    pub data: String,
}

/// An incremental parser: feed it the stream's chunks as they come.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    pending: Vec<u8>,
    /// The event being built: `data` collects `\n` + each data line, as OkHttp does.
    data: Vec<u8>,
    name: Option<String>,
}

impl SseParser {
    /// Parses `chunk` and returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        let mut index = 0;
        while index < self.pending.len() {
            let byte = self.pending[index];
            if byte != b'\n' && byte != b'\r' {
                index += 1;
                continue;
            }
            // A `\r` that ends the buffer may be the first half of `\r\n`: wait for more.
            if byte == b'\r' && index + 1 == self.pending.len() {
                break;
            }
            let line_end = index;
            index += if byte == b'\r' && self.pending[index + 1] == b'\n' {
                2
            } else {
                1
            };
            let line = self.pending[start..line_end].to_vec();
            start = index;
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        self.pending.drain(..start);
        events
    }

    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            let name = self.name.take();
            if data.is_empty() {
                return None;
            }
            // Skip the newline each data line was prefixed with.
            return Some(SseEvent {
                name,
                data: String::from_utf8_lossy(&data[1..]).into_owned(),
            });
        }
        if let Some(value) = field(line, b"data") {
            self.data.push(b'\n');
            self.data.extend_from_slice(value);
        } else if let Some(value) = field(line, b"event") {
            self.name = (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
        }
        None
    }
}

/// The value of `name:` or `name: ` (empty for a bare `name`), or `None` for another line.
fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let value = rest.strip_prefix(b":")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        chunks
            .iter()
            .flat_map(|chunk| parser.feed(chunk.as_bytes()))
            .collect()
    }

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            name: name.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn reads_the_reference_servers_framing() {
        assert_eq!(
            parse(&[
                ":keepalive\n\n",
                "event: MessageEnqueued\ndata: null\n\n",
                "event: MessageCancelled\ndata: {\"messageId\":\"m1\"}\n\n",
            ]),
            vec![
                event(Some("MessageEnqueued"), "null"),
                event(Some("MessageCancelled"), "{\"messageId\":\"m1\"}"),
            ]
        );
    }

    #[test]
    fn an_event_without_data_is_dropped_and_its_name_forgotten() {
        assert_eq!(
            parse(&["event: MessageEnqueued\n\n", "data: x\n\n"]),
            vec![event(None, "x")]
        );
    }

    #[test]
    fn line_endings_and_chunk_boundaries_do_not_matter() {
        assert_eq!(
            parse(&[
                "event:Settings",
                "Updated\r",
                "\ndata:",
                "{}\r\r",
                "data\ndata: a\n",
                "\n"
            ]),
            vec![event(Some("SettingsUpdated"), "{}"), event(None, "\na")]
        );
    }

    #[test]
    fn id_retry_and_unknown_fields_are_ignored_and_a_partial_event_is_lost() {
        assert_eq!(
            parse(&[
                "id: 7\nretry: 10\nfoo: bar\ndata: y\n\n",
                "data: never ended\n"
            ]),
            vec![event(None, "y")]
        );
    }
}
