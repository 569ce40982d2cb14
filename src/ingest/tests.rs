//! Parser behaviour that the HTTP tests do not reach directly: exact categories after a late
//! switch from numbers to text, label ordering and merging, JSON key unions, limits.

use super::*;
use crate::domain::dataset::{ColumnData, MISSING_CODE};

fn opts(format: UploadFormat, label: &str) -> IngestOptions {
    IngestOptions {
        format,
        label: label.into(),
        delimiter: b',',
        max_rows: 1_000,
        max_columns: 100,
        max_cells: 100_000,
        max_classes: 10,
        max_sequence_steps: 10_000,
        sequence: None,
        size_hint: None,
        text_columns: Vec::new(),
        types: Vec::new(),
    }
}

fn csv(text: &str, label: &str) -> Result<ParsedDataset, IngestError> {
    parse_upload(text.as_bytes(), &opts(UploadFormat::Csv, label))
}

fn categories(data: &ColumnData) -> (&[u32], &[String]) {
    match data {
        ColumnData::Categorical { codes, categories } => (codes, categories),
        ColumnData::Numeric(_) => panic!("expected a categorical column"),
    }
}

#[test]
fn a_column_that_turns_to_text_late_keeps_the_exact_uploaded_text() {
    let d = csv("x,y\n007,a\n1.50,b\n,a\nred,b\n", "y").unwrap();
    let (codes, cats) = categories(&d.columns[0].data);
    assert_eq!(cats, &["007", "1.50", "red"]);
    assert_eq!(codes, &[0, 1, MISSING_CODE, 2]);
    assert_eq!(d.columns[0].info.missing, 1);
}

#[test]
fn numeric_columns_hold_f32_with_nan_for_missing() {
    let d = csv("x,y\n1.5,a\nNA,b\n-3e2,a\n", "y").unwrap();
    let ColumnData::Numeric(v) = &d.columns[0].data else {
        panic!("numeric")
    };
    assert_eq!(v[0], 1.5);
    assert!(v[1].is_nan());
    assert_eq!(v[2], -300.0);
}

#[test]
fn numeric_labels_are_ordered_numerically_and_equal_numbers_are_one_class() {
    let d = csv("x,y\n1,10\n2,2\n3,2.0\n4,10\n5,1e1\n", "y").unwrap();
    let classes: Vec<(&str, u64)> = d
        .classes
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(classes, vec![("2", 2), ("10", 3)]);
    let (codes, cats) = categories(&d.columns[1].data);
    assert_eq!(cats, &["2", "10"]);
    assert_eq!(codes, &[1, 0, 0, 1, 1]);
}

#[test]
fn text_labels_are_ordered_lexicographically() {
    let d = csv("x,y\n1,setosa\n2,virginica\n3,versicolor\n", "y").unwrap();
    let values: Vec<&str> = d.classes.iter().map(|c| c.value.as_str()).collect();
    assert_eq!(values, vec!["setosa", "versicolor", "virginica"]);
}

#[test]
fn too_many_classes_is_rejected() {
    let rows: String = (0..11).map(|i| format!("{i},{i}\n")).collect();
    let err = csv(&format!("x,y\n{rows}"), "y").unwrap_err();
    assert_eq!(err.kind, IngestErrorKind::Invalid);
    assert!(err.message.contains("max_classes"), "{}", err.message);
}

#[test]
fn the_cell_limit_counts_rows_times_columns() {
    let mut o = opts(UploadFormat::Csv, "y");
    o.max_cells = 5;
    let err = parse_upload(&b"x,y\n1,a\n2,b\n3,a\n"[..], &o).unwrap_err();
    assert!(err.message.contains("max_cells"), "{}", err.message);
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_accepted() {
    let d = csv("\u{feff}x,y\r\n1,a\r\n2,b\r\n", "y").unwrap();
    assert_eq!(d.columns[0].info.name, "x");
    assert_eq!(d.rows, 2);
}

#[test]
fn quoted_fields_may_hold_delimiters_and_newlines() {
    let d = csv("x,y\n\"a,b\",p\n\"c\nd\",q\n", "y").unwrap();
    let (_, cats) = categories(&d.columns[0].data);
    assert_eq!(cats, &["a,b", "c\nd"]);
}

#[test]
fn json_records_take_the_union_of_keys_in_order_of_appearance() {
    let body = br#"[{"a": 1, "y": "p"}, {"y": "q", "b": "z"}]"#;
    let d = parse_upload(&body[..], &opts(UploadFormat::Json, "y")).unwrap();
    let names: Vec<&str> = d.columns.iter().map(|c| c.info.name.as_str()).collect();
    assert_eq!(names, vec!["a", "y", "b"]);
    assert_eq!(d.columns[0].info.missing, 1);
    assert_eq!(d.columns[2].info.missing, 1);
}

#[test]
fn records_under_a_records_key_read_as_the_bare_array_does() {
    let bare = br#"[{"a": 1, "y": "p"}, {"y": "q", "b": "z"}, {"a": 2.5, "y": "p"}]"#;
    let wrapped =
        br#"{"records": [{"a": 1, "y": "p"}, {"y": "q", "b": "z"}, {"a": 2.5, "y": "p"}]}"#;
    let bare = parse_upload(&bare[..], &opts(UploadFormat::Json, "y")).unwrap();
    let wrapped = parse_upload(&wrapped[..], &opts(UploadFormat::Json, "y")).unwrap();
    // Debug text, since a missing value is NaN and NaN != NaN.
    assert_eq!(
        format!("{:?}", wrapped.columns),
        format!("{:?}", bare.columns)
    );
    assert_eq!(wrapped.rows, bare.rows);
}

#[test]
fn records_beside_columns_or_not_an_array_name_the_field() {
    let both = br#"{"columns": ["a", "y"], "records": [{"a": 1, "y": "p"}]}"#;
    let err = parse_upload(&both[..], &opts(UploadFormat::Json, "y")).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("records"), "{err:?}");
    let twice = br#"{"records": [{"a": 1, "y": "p"}], "records": [{"a": 2, "y": "q"}]}"#;
    let err = parse_upload(&twice[..], &opts(UploadFormat::Json, "y")).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("records"), "{err:?}");
    let scalar = br#"{"records": 3}"#;
    let err = parse_upload(&scalar[..], &opts(UploadFormat::Json, "y")).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("records"), "{err:?}");
}

#[test]
fn json_strings_that_look_numeric_stay_categorical() {
    let body = br#"[{"a": "1", "y": "p"}, {"a": "2", "y": "q"}]"#;
    let d = parse_upload(&body[..], &opts(UploadFormat::Json, "y")).unwrap();
    let (_, cats) = categories(&d.columns[0].data);
    assert_eq!(cats, &["1", "2"]);
}

#[test]
fn a_columnar_row_of_the_wrong_length_names_the_row() {
    let body = br#"{"columns": ["a", "y"], "rows": [[1, "p"], [2]]}"#;
    let err = parse_upload(&body[..], &opts(UploadFormat::Json, "y")).unwrap_err();
    assert_eq!(err.kind, IngestErrorKind::Malformed);
    assert_eq!(err.field.as_deref(), Some("rows[1]"));
}

#[test]
fn the_hash_covers_every_byte_of_the_body() {
    let body = "x,y\n1,a\n2,b\n";
    let d = csv(body, "y").unwrap();
    // sha256 of the literal above, from `printf 'x,y\n1,a\n2,b\n' | sha256sum`.
    assert_eq!(
        d.sha256,
        "01331cf653a16b7278f66569b5719303c2f18ce869c87638c09943a49d3e73dd"
    );
    assert_eq!(d.bytes, body.len() as u64);
}

fn sequences(format: UploadFormat, body: &[u8]) -> Result<ParsedDataset, IngestError> {
    let mut o = opts(format, "label");
    if format != UploadFormat::Ts {
        o.sequence = Some(SequenceSource::Field("s".into()));
    }
    parse_upload(body, &o)
}

fn class_values(d: &ParsedDataset) -> Vec<(&str, u64)> {
    d.classes
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect()
}

#[test]
fn a_class_label_declared_twice_or_without_sequences_is_refused() {
    let twice = sequences(
        UploadFormat::Ts,
        b"@classLabel true a a b\n@data\n1,2:a\n3:b\n",
    );
    let e = twice.unwrap_err();
    assert_eq!((e.kind, e.line), (IngestErrorKind::Invalid, Some(1)), "{e}");
    assert!(e.message.contains("\"a\" twice"), "{e}");
    let absent = sequences(
        UploadFormat::Ts,
        b"@classLabel true a b c\n@data\n1:a\n2:b\n",
    );
    let e = absent.unwrap_err();
    assert!(e.message.contains("\"c\" is declared"), "{e}");
    assert_eq!(e.field.as_deref(), Some("label"));
    // Declared and present: fine, in the CSV label's order.
    let d = sequences(UploadFormat::Ts, b"@classLabel true b a\n@data\n1:a\n2:b\n").unwrap();
    assert_eq!(class_values(&d), [("a", 1), ("b", 1)]);
}

#[test]
fn sequence_labels_that_are_the_same_number_are_one_class() {
    let ts = sequences(UploadFormat::Ts, b"@data\n1:1\n2:1.0\n3:2\n").unwrap();
    assert_eq!(class_values(&ts), [("1", 2), ("2", 1)]);
    let json = br#"[{"label": 1, "s": [1]}, {"label": 1.0, "s": [2]}, {"label": "2", "s": [3]}]"#;
    let d = sequences(UploadFormat::Json, json).unwrap();
    assert_eq!(class_values(&d), [("1", 2), ("2", 1)]);
}

#[test]
fn a_byte_order_mark_is_skipped_in_every_format() {
    let ts = sequences(UploadFormat::Ts, b"\xEF\xBB\xBF@data\n1:a\n2:b\n").unwrap();
    assert_eq!(ts.rows, 2);
    let nd = "\u{feff}{\"label\": \"a\", \"s\": [1]}\n{\"label\": \"b\", \"s\": [2]}\n";
    assert_eq!(
        sequences(UploadFormat::Ndjson, nd.as_bytes()).unwrap().rows,
        2
    );
    let table = "\u{feff}{\"x\": 1, \"y\": \"a\"}\n{\"x\": 2, \"y\": \"b\"}\n";
    let d = parse_upload(table.as_bytes(), &opts(UploadFormat::Ndjson, "y")).unwrap();
    assert_eq!(d.columns[0].info.name, "x");
    let doc = "\u{feff}[{\"x\": 1, \"y\": \"a\"}, {\"x\": 2, \"y\": \"b\"}]";
    assert_eq!(
        parse_upload(doc.as_bytes(), &opts(UploadFormat::Json, "y"))
            .unwrap()
            .rows,
        2
    );
    // The hash is of the bytes sent, mark included.
    let with = parse_upload(table.as_bytes(), &opts(UploadFormat::Ndjson, "y")).unwrap();
    assert_eq!(with.bytes, table.len() as u64);
}

#[test]
fn long_format_ids_and_orders_are_exact_not_f32() {
    // 100000001 and 100000002 are the same f32, as are 1700000000 and 1700000001.
    let csv = "id,t,v,label\n100000001,1700000000,1,a\n100000001,1700000001,2,a\n\
               100000002,1700000000,3,b\n100000002,1700000001,4,b\n";
    let mut o = opts(UploadFormat::Csv, "label");
    o.sequence = Some(SequenceSource::Long {
        id: "id".into(),
        order: "t".into(),
    });
    let d = parse_upload(csv.as_bytes(), &o).unwrap();
    let s = d.sequences.unwrap();
    assert_eq!(s.lengths, [2, 2]);
    assert_eq!(s.values, [1.0, 2.0, 3.0, 4.0]);
    // Text that is the same number is the same step.
    let twice = "id,t,v,label\n1,1,1,a\n1,1.0,2,a\n2,1,3,b\n";
    let e = parse_upload(twice.as_bytes(), &o).unwrap_err();
    assert!(e.message.contains("appears twice"), "{e}");
}

/// A body that never ends: `head`, then `line` forever.
struct Endless {
    head: Vec<u8>,
    line: Vec<u8>,
    at: usize,
}

impl std::io::Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let source = if self.at < self.head.len() {
                &self.head[self.at..]
            } else {
                let k = (self.at - self.head.len()) % self.line.len();
                &self.line[k..]
            };
            let take = source.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&source[..take]);
            n += take;
            self.at += take;
        }
        Ok(n)
    }
}

#[test]
fn the_row_and_step_limits_stop_a_body_as_it_streams() {
    let endless = |head: &str, line: &str| Endless {
        head: head.as_bytes().to_vec(),
        line: line.as_bytes().to_vec(),
        at: 0,
    };
    let cases = [
        (
            UploadFormat::Ts,
            None,
            endless("@data\n", "1:a\n2:b\n"),
            "max_rows",
        ),
        (
            UploadFormat::Ndjson,
            Some("s"),
            endless("", "{\"label\": \"a\", \"s\": [1]}\n"),
            "max_rows",
        ),
        (
            UploadFormat::Json,
            Some("s"),
            endless("[", "{\"label\": \"a\", \"s\": [1]},"),
            "max_rows",
        ),
        (
            UploadFormat::Json,
            Some("s"),
            endless("[{\"label\": \"a\", \"s\": [", "1, "),
            "max_sequence_steps",
        ),
        (
            UploadFormat::Json,
            None,
            endless("[", "{\"x\": 1, \"label\": \"a\"},"),
            "max_rows",
        ),
        (
            UploadFormat::Ndjson,
            None,
            endless("", "{\"x\": 1, \"label\": \"a\"}\n"),
            "max_rows",
        ),
    ];
    for (format, field, body, says) in cases {
        let mut o = opts(format, "label");
        o.sequence = field.map(|f| SequenceSource::Field(f.into()));
        let e = match parse_upload(body, &o) {
            Err(e) => e,
            Ok(_) => unreachable!("an endless body cannot parse"),
        };
        assert!(e.message.contains(says), "{format:?}: {e}");
    }
}
