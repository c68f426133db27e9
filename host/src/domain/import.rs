//! CSV import rules, with no I/O: which column means what, what makes a row
//! acceptable, and which rows repeat one another. The engine streams a file
//! through these; the API uses them to refuse a file up front.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;

use super::phone::{E164, Region};

/// Most columns a file may have. Wide exports from CRMs reach a few thousand;
/// beyond this a file is almost certainly not a contact list.
pub const MAX_COLUMNS: usize = 10_000;

/// What a column holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnRole {
    Phone,
    Email,
    FirstName,
    LastName,
    /// A full name, split at the first space into first and last name.
    FullName,
    Timezone,
    /// A custom field under this name, usable as `{{name}}` in messages.
    Custom(String),
    Ignore,
}

impl ColumnRole {
    /// Reads a role named in an explicit mapping: `phone`, `email`,
    /// `first_name`, `last_name`, `name`, `timezone`, `ignore`, or
    /// `custom:NAME` / any other identifier for a custom field.
    pub fn parse(target: &str) -> Result<Self, String> {
        let t = target.trim();
        Ok(match t {
            "phone" => Self::Phone,
            "email" => Self::Email,
            "first_name" => Self::FirstName,
            "last_name" => Self::LastName,
            "name" => Self::FullName,
            "timezone" => Self::Timezone,
            "ignore" => Self::Ignore,
            _ => {
                let name = t.strip_prefix("custom:").unwrap_or(t);
                if !is_field_name(name) {
                    return Err(format!(
                        "{target:?} is not a role (phone, email, first_name, last_name, name, \
                         timezone, ignore) nor a custom field name ([A-Za-z_][A-Za-z0-9_]*)"
                    ));
                }
                Self::Custom(name.to_owned())
            }
        })
    }

    /// Guesses a column's role from its header, the way people name them.
    pub fn detect(header: &str) -> Self {
        let key: String = header
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        match key.as_str() {
            "number" | "phone" | "phonenumber" | "mobile" | "mobilenumber" | "mobilephone"
            | "cell" | "cellphone" | "msisdn" | "tel" | "telephone" | "whatsapp" => Self::Phone,
            "email" | "emailaddress" | "mail" => Self::Email,
            "firstname" | "first" | "givenname" | "forename" => Self::FirstName,
            "lastname" | "last" | "surname" | "familyname" => Self::LastName,
            "name" | "fullname" | "contactname" => Self::FullName,
            "timezone" | "tz" => Self::Timezone,
            // Herald's own export carries ids; they are not contact data.
            "contactid" => Self::Ignore,
            _ => Self::Custom(custom_field_name(header)),
        }
    }
}

/// A header turned into a template-friendly field name: `Appointment Date`
/// becomes `appointment_date`.
pub fn custom_field_name(header: &str) -> String {
    let mut name = String::with_capacity(header.len());
    for c in header.trim().chars() {
        if c.is_alphanumeric() {
            name.extend(c.to_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_matches('_').to_owned();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("field_{name}")
    } else {
        name
    }
}

fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a file cannot be imported at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("the file has {0} columns; at most {MAX_COLUMNS} are accepted")]
    TooManyColumns(usize),
    #[error("column {0:?} appears more than once in the header row")]
    DuplicateHeader(String),
    #[error("the header row has an empty column name (column {0})")]
    EmptyHeader(usize),
    #[error(
        "no phone or email column: found {0}; name one `phone`/`Number`/`email`, or pass a mapping"
    )]
    NoAddressColumn(String),
    #[error(
        "columns {0:?} and {1:?} both map to {2}; map one of them to `ignore` or a custom field"
    )]
    TwoColumnsForRole(String, String, &'static str),
    #[error("custom fields {0:?} and {1:?} both become `{2}`; map one of them explicitly")]
    FieldNameClash(String, String, String),
    #[error("the mapping names column {0:?}, which is not in the header row")]
    UnknownColumn(String),
    #[error("the mapping for column {0:?}: {1}")]
    BadTarget(String, String),
}

/// Each column's role, fixed for the whole file.
#[derive(Clone, Debug)]
pub struct ColumnMapping {
    roles: Vec<ColumnRole>,
}

impl ColumnMapping {
    /// Auto-detects every column, then applies the explicit `overrides`
    /// (header -> role name), which win.
    pub fn build(
        headers: &[String],
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, MappingError> {
        if headers.len() > MAX_COLUMNS {
            return Err(MappingError::TooManyColumns(headers.len()));
        }
        let mut seen = HashMap::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            if h.trim().is_empty() {
                return Err(MappingError::EmptyHeader(i + 1));
            }
            if seen.insert(h.trim(), i).is_some() {
                return Err(MappingError::DuplicateHeader(h.clone()));
            }
        }
        for column in overrides.keys() {
            if !seen.contains_key(column.trim()) {
                return Err(MappingError::UnknownColumn(column.clone()));
            }
        }
        let mut roles = Vec::with_capacity(headers.len());
        for h in headers {
            let role = match overrides.get(h.trim()) {
                Some(target) => ColumnRole::parse(target)
                    .map_err(|why| MappingError::BadTarget(h.clone(), why))?,
                None => ColumnRole::detect(h),
            };
            roles.push(role);
        }
        let mapping = Self { roles };
        mapping.check(headers)?;
        Ok(mapping)
    }

    /// One column per standard role, distinct custom names, an address column.
    fn check(&self, headers: &[String]) -> Result<(), MappingError> {
        let mut by_role: HashMap<&'static str, usize> = HashMap::new();
        let mut by_field: HashMap<&str, usize> = HashMap::new();
        for (i, role) in self.roles.iter().enumerate() {
            let standard = match role {
                ColumnRole::Phone => "phone",
                ColumnRole::Email => "email",
                ColumnRole::FirstName => "first_name",
                ColumnRole::LastName => "last_name",
                ColumnRole::FullName => "name",
                ColumnRole::Timezone => "timezone",
                ColumnRole::Custom(name) => {
                    if let Some(&j) = by_field.get(name.as_str()) {
                        return Err(MappingError::FieldNameClash(
                            headers[j].clone(),
                            headers[i].clone(),
                            name.clone(),
                        ));
                    }
                    by_field.insert(name, i);
                    continue;
                }
                ColumnRole::Ignore => continue,
            };
            if let Some(&j) = by_role.get(standard) {
                return Err(MappingError::TwoColumnsForRole(
                    headers[j].clone(),
                    headers[i].clone(),
                    standard,
                ));
            }
            by_role.insert(standard, i);
        }
        if !by_role.contains_key("phone") && !by_role.contains_key("email") {
            let found = headers
                .iter()
                .take(10)
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(MappingError::NoAddressColumn(found));
        }
        Ok(())
    }

    /// The custom field names this file brings (template variables).
    pub fn custom_fields(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().filter_map(|r| match r {
            ColumnRole::Custom(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The column holding `role`, if any.
    pub fn index_of(&self, role: &ColumnRole) -> Option<usize> {
        self.roles.iter().position(|r| r == role)
    }

    pub fn columns(&self) -> usize {
        self.roles.len()
    }
}

/// One contact read from a row, normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportedContact {
    /// E.164.
    pub phone: Option<String>,
    /// Lowercased.
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub timezone: Option<String>,
    /// Custom fields with a value in this row.
    pub fields: BTreeMap<String, String>,
}

/// Why one row was not imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum RowRejection {
    /// Neither a phone nor an email.
    MissingPhoneAndEmail,
    /// The phone cell, as written.
    InvalidNumber(String),
    InvalidEmail(String),
    /// The row has a different number of cells than the header.
    WrongCellCount {
        expected: usize,
        found: usize,
    },
    /// Repeats the phone or email of an earlier row (its row number).
    DuplicateInFile {
        first_row: u64,
    },
    /// The existing contact holding this address (import with
    /// `existing=skip`, or an email that belongs to another contact).
    DuplicateOfExisting {
        contact_id: i64,
    },
    /// A cell longer than its column's cap (`import_cells`).
    CellTooLong {
        column: String,
        max: usize,
    },
    /// A NUL or other control character in a cell.
    ControlCharacter {
        column: String,
    },
    /// A phone number with an extension, as written.
    PhoneExtension(String),
}

impl RowRejection {
    /// Stable machine name, as stored and exported.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingPhoneAndEmail => "missing_phone_and_email",
            Self::InvalidNumber(_) => "invalid_number",
            Self::InvalidEmail(_) => "invalid_email",
            Self::WrongCellCount { .. } => "wrong_cell_count",
            Self::DuplicateInFile { .. } => "duplicate_in_file",
            Self::DuplicateOfExisting { .. } => "duplicate_of_existing",
            Self::CellTooLong { .. } => "cell_too_long",
            Self::ControlCharacter { .. } => "control_character",
            Self::PhoneExtension(_) => "phone_extension",
        }
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            Self::MissingPhoneAndEmail => "the row has neither a phone nor an email".into(),
            Self::InvalidNumber(n) => format!("{n:?} is not a valid phone number"),
            Self::InvalidEmail(e) => format!("{e:?} is not an email address"),
            Self::WrongCellCount { expected, found } => {
                format!("the row has {found} cells; the header has {expected}")
            }
            Self::DuplicateInFile { first_row } => {
                format!("same phone or email as row {first_row}")
            }
            Self::DuplicateOfExisting { contact_id } => {
                format!("the address belongs to existing contact {contact_id}")
            }
            Self::CellTooLong { column, max } => {
                format!("the {column} cell is longer than {max} bytes")
            }
            Self::ControlCharacter { column } => {
                format!("the {column} cell holds a control character (such as NUL)")
            }
            Self::PhoneExtension(n) => format!(
                "{n:?} has an extension; Herald reaches the number alone, so write it without one"
            ),
        }
    }
}

/// Reads rows into contacts under one mapping and default region.
pub struct RowReader {
    mapping: ColumnMapping,
    region: Option<Region>,
}

impl RowReader {
    pub fn new(mapping: ColumnMapping, region: Option<Region>) -> Self {
        Self { mapping, region }
    }

    pub fn mapping(&self) -> &ColumnMapping {
        &self.mapping
    }

    /// Turns one record's `len` cells into a contact, or says why not.
    pub fn read<'a>(
        &self,
        cells: impl Iterator<Item = &'a str>,
        len: usize,
    ) -> Result<ImportedContact, RowRejection> {
        if len != self.mapping.roles.len() {
            return Err(RowRejection::WrongCellCount {
                expected: self.mapping.roles.len(),
                found: len,
            });
        }
        let mut c = ImportedContact::default();
        let mut raw_phone = None;
        for (role, cell) in self.mapping.roles.iter().zip(cells) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            super::import_cells::check(role, cell)?;
            match role {
                ColumnRole::Phone => raw_phone = Some(cell),
                ColumnRole::Email => c.email = Some(cell.to_lowercase()),
                ColumnRole::FirstName => c.first_name = Some(cell.to_owned()),
                ColumnRole::LastName => c.last_name = Some(cell.to_owned()),
                ColumnRole::FullName => {
                    let (first, last) = cell.split_once(' ').unwrap_or((cell, ""));
                    c.first_name.get_or_insert_with(|| first.to_owned());
                    if !last.trim().is_empty() {
                        c.last_name.get_or_insert_with(|| last.trim().to_owned());
                    }
                }
                ColumnRole::Timezone => c.timezone = Some(cell.to_owned()),
                ColumnRole::Custom(name) => {
                    c.fields.insert(name.clone(), cell.to_owned());
                }
                ColumnRole::Ignore => {}
            }
        }
        if raw_phone.is_none() && c.email.is_none() {
            return Err(RowRejection::MissingPhoneAndEmail);
        }
        if let Some(raw) = raw_phone {
            if super::import_cells::has_extension(raw) {
                return Err(RowRejection::PhoneExtension(raw.to_owned()));
            }
            let phone = E164::normalize(raw, self.region)
                .map_err(|_| RowRejection::InvalidNumber(raw.to_owned()))?;
            c.phone = Some(phone.to_string());
        }
        if let Some(email) = &c.email
            && !looks_like_email(email)
        {
            return Err(RowRejection::InvalidEmail(email.clone()));
        }
        Ok(c)
    }
}

/// The practical check every peer does: one `@`, something before it, a dot
/// in the domain, no spaces.
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Remembers every phone and email seen in a file, to refuse repeats
/// (phone first, then email). Keys are 64-bit hashes, not strings, so a
/// million-row file costs ~40 MB rather than hundreds; SipHash with fixed
/// keys makes a false match as unlikely as 1 in 10^7 per million-row file.
#[derive(Default)]
pub struct FileDedupe {
    phones: HashMap<u64, u64>,
    emails: HashMap<u64, u64>,
}

impl FileDedupe {
    /// Records `contact` as seen at `row`, or names the earlier row that had
    /// its phone (first) or email.
    pub fn check(&mut self, row: u64, contact: &ImportedContact) -> Result<(), RowRejection> {
        let phone = contact.phone.as_deref().map(key);
        let email = contact.email.as_deref().map(key);
        let earlier = phone
            .and_then(|k| self.phones.get(&k))
            .or_else(|| email.and_then(|k| self.emails.get(&k)));
        if let Some(&first_row) = earlier {
            return Err(RowRejection::DuplicateInFile { first_row });
        }
        if let Some(k) = phone {
            self.phones.insert(k, row);
        }
        if let Some(k) = email {
            self.emails.insert(k, row);
        }
        Ok(())
    }
}

fn key(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    fn reader(h: &[&str], region: Option<&str>) -> RowReader {
        let mapping = ColumnMapping::build(&headers(h), &BTreeMap::new()).unwrap();
        RowReader::new(mapping, region.map(|r| Region::parse(r).unwrap()))
    }

    #[test]
    fn detects_the_headers_people_use() {
        for (h, role) in [
            ("Number", ColumnRole::Phone),
            ("Mobile Phone", ColumnRole::Phone),
            ("E-mail", ColumnRole::Email),
            ("first_name", ColumnRole::FirstName),
            ("Surname", ColumnRole::LastName),
            ("Full Name", ColumnRole::FullName),
            ("Time Zone", ColumnRole::Timezone),
            (
                "Appointment Date",
                ColumnRole::Custom("appointment_date".into()),
            ),
            ("2nd plan", ColumnRole::Custom("field_2nd_plan".into())),
        ] {
            assert_eq!(ColumnRole::detect(h), role, "{h}");
        }
    }

    #[test]
    fn refuses_files_it_cannot_map() {
        let none = BTreeMap::new();
        assert_eq!(
            ColumnMapping::build(&headers(&["phone", "plan", "phone"]), &none).unwrap_err(),
            MappingError::DuplicateHeader("phone".into())
        );
        assert!(matches!(
            ColumnMapping::build(&headers(&["name", "plan"]), &none).unwrap_err(),
            MappingError::NoAddressColumn(_)
        ));
        assert!(matches!(
            ColumnMapping::build(&headers(&["phone", "mobile"]), &none).unwrap_err(),
            MappingError::TwoColumnsForRole(..)
        ));
        let wide: Vec<String> = (0..=MAX_COLUMNS).map(|i| format!("c{i}")).collect();
        assert_eq!(
            ColumnMapping::build(&wide, &none).unwrap_err(),
            MappingError::TooManyColumns(MAX_COLUMNS + 1)
        );
    }

    #[test]
    fn explicit_mapping_wins_over_detection() {
        let overrides = BTreeMap::from([
            ("mobile".to_string(), "ignore".to_string()),
            ("Kundennummer".to_string(), "customer_id".to_string()),
        ]);
        let m = ColumnMapping::build(&headers(&["phone", "mobile", "Kundennummer"]), &overrides)
            .unwrap();
        assert_eq!(m.custom_fields().collect::<Vec<_>>(), ["customer_id"]);
        let bad = BTreeMap::from([("nope".to_string(), "phone".to_string())]);
        assert_eq!(
            ColumnMapping::build(&headers(&["phone"]), &bad).unwrap_err(),
            MappingError::UnknownColumn("nope".into())
        );
    }

    #[test]
    fn reads_and_normalises_a_row() {
        let r = reader(&["Name", "Mobile", "Email", "Plan"], Some("US"));
        let c = r
            .read(
                [
                    "Ana Lima Souza",
                    "(415) 555-0100",
                    " Ana@Example.COM ",
                    "gold",
                ]
                .into_iter(),
                4,
            )
            .unwrap();
        assert_eq!(c.phone.as_deref(), Some("+14155550100"));
        assert_eq!(c.email.as_deref(), Some("ana@example.com"));
        assert_eq!(c.first_name.as_deref(), Some("Ana"));
        assert_eq!(c.last_name.as_deref(), Some("Lima Souza"));
        assert_eq!(c.fields.get("plan").map(String::as_str), Some("gold"));
    }

    #[test]
    fn rejects_bad_rows_with_their_reason() {
        let r = reader(&["phone", "email"], None);
        assert_eq!(
            r.read(["", ""].into_iter(), 2),
            Err(RowRejection::MissingPhoneAndEmail)
        );
        assert_eq!(
            r.read(["4155550100", ""].into_iter(), 2),
            Err(RowRejection::InvalidNumber("4155550100".into())),
            "a national number needs a default region"
        );
        assert_eq!(
            r.read(["", "no-at-sign"].into_iter(), 2),
            Err(RowRejection::InvalidEmail("no-at-sign".into()))
        );
        assert_eq!(
            r.read(["+14155550100"].into_iter(), 1),
            Err(RowRejection::WrongCellCount {
                expected: 2,
                found: 1
            })
        );
    }

    #[test]
    fn dedupes_phone_first_then_email() {
        let mut d = FileDedupe::default();
        let c = |p: Option<&str>, e: Option<&str>| ImportedContact {
            phone: p.map(Into::into),
            email: e.map(Into::into),
            ..Default::default()
        };
        assert!(d.check(2, &c(Some("+1"), Some("a@x.io"))).is_ok());
        assert!(d.check(3, &c(Some("+2"), None)).is_ok());
        assert_eq!(
            d.check(4, &c(Some("+2"), Some("new@x.io"))),
            Err(RowRejection::DuplicateInFile { first_row: 3 })
        );
        assert_eq!(
            d.check(5, &c(None, Some("a@x.io"))),
            Err(RowRejection::DuplicateInFile { first_row: 2 })
        );
        assert!(d.check(6, &c(None, Some("b@x.io"))).is_ok());
    }
}
