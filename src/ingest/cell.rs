//! One uploaded cell and how it is read: a missing marker, a finite number, or text.

use std::borrow::Cow;

/// The texts read as a missing value (besides JSON `null` and an absent key). `NaN` and `inf`
/// are deliberately not among them: in a numeric column they are rejected as non-finite.
pub const MISSING_MARKERS: [&str; 3] = ["", "NA", "null"];

/// A cell as a source hands it over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// JSON `null` or an absent key.
    Missing,
    /// CSV text: a number, a missing marker or a category, decided by its content.
    Raw(&'a str),
    /// A JSON number.
    Number(f64),
    /// A JSON string or boolean: always text, even if it looks like a number.
    Text(&'a str),
}

/// What a cell means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reading<'a> {
    Missing,
    Number(f32),
    /// Reads as a number but is not finite in f32 (`inf`, `NaN`, `1e39`).
    NonFinite,
    Text(Cow<'a, str>),
}

impl<'a> Cell<'a> {
    /// Reads the cell for a column that may be numeric.
    pub(crate) fn read(self) -> Reading<'a> {
        match self {
            Cell::Missing => Reading::Missing,
            Cell::Raw(s) => {
                let s = s.trim();
                if MISSING_MARKERS.contains(&s) {
                    return Reading::Missing;
                }
                match s.parse::<f32>() {
                    Ok(v) if v.is_finite() => Reading::Number(v),
                    Ok(_) => Reading::NonFinite,
                    Err(_) => Reading::Text(Cow::Borrowed(s)),
                }
            }
            Cell::Number(v) => {
                let v32 = v as f32;
                if v32.is_finite() {
                    Reading::Number(v32)
                } else {
                    Reading::NonFinite
                }
            }
            Cell::Text(s) => {
                let s = s.trim();
                if MISSING_MARKERS.contains(&s) {
                    Reading::Missing
                } else {
                    Reading::Text(Cow::Borrowed(s))
                }
            }
        }
    }

    /// The cell as a category: its trimmed text, or `None` when missing.
    pub(crate) fn category(self) -> Option<Cow<'a, str>> {
        match self {
            Cell::Missing => None,
            Cell::Raw(s) | Cell::Text(s) => {
                let s = s.trim();
                (!MISSING_MARKERS.contains(&s)).then_some(Cow::Borrowed(s))
            }
            Cell::Number(v) => Some(Cow::Owned(v.to_string())),
        }
    }

    /// The cell's text for error messages.
    pub(crate) fn display(self) -> String {
        match self {
            Cell::Missing => "null".into(),
            Cell::Raw(s) | Cell::Text(s) => s.trim().to_owned(),
            Cell::Number(v) => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_is_read_by_content() {
        assert_eq!(Cell::Raw(" 1.5 ").read(), Reading::Number(1.5));
        assert_eq!(Cell::Raw("-2e3").read(), Reading::Number(-2000.0));
        assert_eq!(Cell::Raw("").read(), Reading::Missing);
        assert_eq!(Cell::Raw("NA").read(), Reading::Missing);
        assert_eq!(Cell::Raw("null").read(), Reading::Missing);
        assert_eq!(Cell::Raw("inf").read(), Reading::NonFinite);
        assert_eq!(Cell::Raw("NaN").read(), Reading::NonFinite);
        assert_eq!(Cell::Raw("1e39").read(), Reading::NonFinite);
        assert_eq!(Cell::Raw("red").read(), Reading::Text("red".into()));
    }

    #[test]
    fn json_strings_stay_text_and_numbers_stay_numbers() {
        assert_eq!(Cell::Text("3").read(), Reading::Text("3".into()));
        assert_eq!(Cell::Number(3.0).read(), Reading::Number(3.0));
        assert_eq!(Cell::Number(1e300).read(), Reading::NonFinite);
        assert_eq!(Cell::Text("NA").read(), Reading::Missing);
    }

    #[test]
    fn numbers_become_categories_in_their_shortest_form() {
        assert_eq!(Cell::Number(1.0).category().as_deref(), Some("1"));
        assert_eq!(Cell::Number(0.25).category().as_deref(), Some("0.25"));
        assert_eq!(Cell::Raw(" 007 ").category().as_deref(), Some("007"));
        assert_eq!(Cell::Raw("NA").category(), None);
    }
}
