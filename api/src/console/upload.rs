//! What a file upload brings: a `multipart/form-data` body read into its parts (by hand: the
//! workspace's axum is built without its `multipart` feature, and a console form is one small
//! body already held whole under its route's limit), and the CSV a contact import is made of.

use flit_engine::NewContact;

/// One part of a multipart body.
pub struct Part {
    pub name: String,
    /// Set for a file (`<input type=file>`), even when no file was chosen (`""`).
    pub filename: Option<String>,
    pub body: Vec<u8>,
}

/// The boundary a `multipart/form-data` content type names.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("boundary"))
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|value| !value.is_empty() && value.len() <= 200)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The parts of `body`, split at `boundary`; `None` when it is not a multipart body.
pub fn parts(boundary: &str, body: &[u8]) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes())?;
    let mut rest = &body[start + delimiter.len()..];
    let between = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, between.as_bytes())?;
        let part = &rest[..end];
        rest = &rest[end + between.len()..];
        let split = find(part, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&part[..split]).ok()?;
        let content = &part[split + 4..];
        let disposition = headers.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(value)
        })?;
        let param = |wanted: &str| {
            disposition.split(';').find_map(|param| {
                let (name, value) = param.split_once('=')?;
                (name.trim() == wanted).then(|| value.trim().trim_matches('"').to_string())
            })
        };
        parts.push(Part {
            name: param("name")?,
            filename: param("filename"),
            body: content.to_vec(),
        });
    }
}

/// The records of a CSV text: fields split at commas (or semicolons, when the first line has
/// those and no comma, as spreadsheets write in some countries), `"quoted, ""fields"""` as
/// RFC 4180 says; each with the line it starts on. Blank lines are left out.
pub fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().unwrap_or_default();
    let separator = if !first_line.contains(',') && first_line.contains(';') {
        ';'
    } else {
        ','
    };
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = text.chars().peekable();
    let mut finish = |record: &mut Vec<String>, field: &mut String, at: usize| {
        record.push(std::mem::take(field));
        if record.iter().any(|field| !field.trim().is_empty()) {
            records.push((at, std::mem::take(record)));
        } else {
            record.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            '\n' if quoted => {
                line += 1;
                field.push('\n');
            }
            '\r' if !quoted => {}
            '\n' => {
                finish(&mut record, &mut field, record_line);
                line += 1;
                record_line = line;
            }
            c if c == separator && !quoted => record.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        finish(&mut record, &mut field, record_line);
    }
    records
}

/// Which column holds what.
struct Columns {
    phone: usize,
    first_name: Option<usize>,
    last_name: Option<usize>,
    email: Option<usize>,
}

fn column_of(heading: &str) -> Option<&'static str> {
    let heading: String = heading
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match heading.as_str() {
        "phone" | "phonenumber" | "mobile" | "msisdn" | "number" | "telephone" => Some("phone"),
        "firstname" | "first" | "givenname" | "name" => Some("first_name"),
        "lastname" | "last" | "surname" | "familyname" => Some("last_name"),
        "email" | "emailaddress" | "mail" => Some("email"),
        _ => None,
    }
}

/// A contact row of an import, with the line of the file it came from.
pub struct CsvContact {
    pub line: usize,
    pub contact: NewContact,
}

/// The contacts of a CSV text. Its first line names the columns (`phone`, `first_name`,
/// `last_name`, `email`, in any order and spelling close to those) when one of them is a phone
/// heading; otherwise the columns are taken in that order. `Err` says why nothing can be read.
pub fn csv_contacts(text: &str) -> Result<Vec<CsvContact>, &'static str> {
    let mut records = csv_records(text).into_iter().peekable();
    let headings: Option<Vec<Option<&str>>> = records.peek().and_then(|(_, first)| {
        let headings: Vec<Option<&str>> = first.iter().map(|h| column_of(h)).collect();
        headings.contains(&Some("phone")).then_some(headings)
    });
    let columns = match &headings {
        Some(headings) => {
            records.next();
            let at = |name: &str| headings.iter().position(|h| *h == Some(name));
            Columns {
                phone: at("phone").unwrap_or(0),
                first_name: at("first_name"),
                last_name: at("last_name"),
                email: at("email"),
            }
        }
        None => Columns {
            phone: 0,
            first_name: Some(1),
            last_name: Some(2),
            email: Some(3),
        },
    };
    let rows: Vec<CsvContact> = records
        .map(|(line, fields)| {
            let get = |at: Option<usize>| {
                at.and_then(|at| fields.get(at))
                    .map(|value| value.trim().to_string())
                    .filter(|value| !value.is_empty())
            };
            CsvContact {
                line,
                contact: NewContact {
                    phone: get(Some(columns.phone)).unwrap_or_default(),
                    first_name: get(columns.first_name),
                    last_name: get(columns.last_name),
                    email: get(columns.email),
                },
            }
        })
        .collect();
    if rows.is_empty() {
        return Err("The file holds no contact: one per line, with a phone number in each.");
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_are_split_into_their_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\nphone\r\n024\r\n--XyZ--\r\n";
        let boundary = boundary("multipart/form-data; boundary=XyZ").expect("boundary");
        let parts = parts(&boundary, body).expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].body.as_slice()),
            ("_csrf", &b"tok"[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some("c.csv"));
        assert_eq!(parts[1].body, b"phone\r\n024");
    }

    #[test]
    fn csv_reads_quotes_headings_and_lines() {
        let rows = csv_contacts(
            "Email,Phone Number,First Name\r\na@x.example,\"024 123, 4567\",\"Ama \"\"A\"\"\"\n\n,020,\n",
        )
        .expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].contact.phone, "024 123, 4567");
        assert_eq!(rows[0].contact.first_name.as_deref(), Some("Ama \"A\""));
        assert_eq!(rows[0].contact.email.as_deref(), Some("a@x.example"));
        assert_eq!((rows[1].line, rows[1].contact.phone.as_str()), (4, "020"));
        let bare = csv_contacts("0241234567;Kofi").expect("rows");
        assert_eq!(bare[0].contact.first_name.as_deref(), Some("Kofi"));
        assert!(csv_contacts("phone\n").is_err());
    }
}
