//! What a CSV cell may hold before it becomes part of a contact: no
//! control characters (a NUL byte, an escape sequence), no more than a
//! documented length, and a phone number without an extension (Herald
//! dials and texts the number alone; dropping the extension silently would
//! reach a switchboard instead of the person).

use super::import::{ColumnRole, RowRejection};

/// Longest first, last or full name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest phone, email, timezone or custom field, in bytes.
pub const MAX_CELL_BYTES: usize = 4096;

/// The column's name for a report.
fn column(role: &ColumnRole) -> String {
    match role {
        ColumnRole::Phone => "phone".into(),
        ColumnRole::Email => "email".into(),
        ColumnRole::FirstName => "first_name".into(),
        ColumnRole::LastName => "last_name".into(),
        ColumnRole::FullName => "name".into(),
        ColumnRole::Timezone => "timezone".into(),
        ColumnRole::Custom(name) => name.clone(),
        ColumnRole::Ignore => "ignored".into(),
    }
}

/// Refuses a cell a contact cannot hold faithfully.
pub fn check(role: &ColumnRole, cell: &str) -> Result<(), RowRejection> {
    let max = match role {
        ColumnRole::Ignore => return Ok(()),
        ColumnRole::FirstName | ColumnRole::LastName | ColumnRole::FullName => MAX_NAME_BYTES,
        _ => MAX_CELL_BYTES,
    };
    if cell.len() > max {
        return Err(RowRejection::CellTooLong {
            column: column(role),
            max,
        });
    }
    // Tabs and line breaks are text (a multi-line note); the rest of C0,
    // and DEL, are not.
    if cell
        .bytes()
        .any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
    {
        return Err(RowRejection::ControlCharacter {
            column: column(role),
        });
    }
    Ok(())
}

/// `415-555-0100 x123`, `ext. 5`, `#12`, `;ext=9`: a number with an
/// extension.
pub fn has_extension(phone: &str) -> bool {
    let lower = phone.to_ascii_lowercase();
    lower.contains('x') || lower.contains("ext") || lower.contains('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_long_cells_are_refused() {
        assert!(check(&ColumnRole::FirstName, "Ana").is_ok());
        assert!(check(&ColumnRole::Custom("notes".into()), "two\r\nlines\tok").is_ok());
        assert_eq!(
            check(&ColumnRole::FirstName, "A\0na"),
            Err(RowRejection::ControlCharacter {
                column: "first_name".into()
            })
        );
        assert_eq!(
            check(&ColumnRole::FirstName, &"x".repeat(257)),
            Err(RowRejection::CellTooLong {
                column: "first_name".into(),
                max: 256
            })
        );
        assert!(check(&ColumnRole::Ignore, &"x".repeat(10_000)).is_ok());
    }

    #[test]
    fn extensions_are_seen_in_every_spelling() {
        for with in [
            "415-555-0100 x123",
            "+1 415 555 0100 ext. 5",
            "4155550100#12",
            "+14155550100;ext=9",
            "(415) 555-0100 X9",
        ] {
            assert!(has_extension(with), "{with}");
        }
        for without in ["+14155550100", "(415) 555-0100", "0171 1234567"] {
            assert!(!has_extension(without), "{without}");
        }
    }
}
