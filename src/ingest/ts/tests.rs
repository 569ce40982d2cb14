//! The `.ts` parser on hand-written files and the shared archive's.
use super::*;

const LIMITS: TsLimits = TsLimits {
    max_steps: 100,
    max_values: 1000,
    max_channels: 10,
    max_sequences: usize::MAX,
};

fn parse_str(s: &str) -> Result<SequenceSet, IngestError> {
    parse(s.as_bytes(), &LIMITS)
}

#[test]
fn channels_steps_missing_values_and_labels_read_as_written() {
    let set = parse_str(
        "# a comment\n@problemName Toy\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n\
         1,2,3:4,?,6:b\n7,8:9,10:a\n",
    )
    .unwrap();
    assert_eq!(set.name.as_deref(), Some("Toy"));
    assert_eq!(set.channels, 2);
    assert_eq!(set.classes, ["a", "b"]);
    assert_eq!(set.labels, ["b", "a"]);
    assert_eq!(set.sequences[0].steps, 3);
    let v = &set.sequences[0].values;
    // Step-major: (1, 4), (2, missing), (3, 6).
    assert_eq!((v[0], v[1], v[2], v[4], v[5]), (1.0, 4.0, 2.0, 3.0, 6.0));
    assert!(v[3].is_nan());
    assert_eq!(set.lengths(), (2, 3, 3));
}

#[test]
fn each_bad_input_names_its_line() {
    let head = "@classLabel true a b\n@data\n";
    let cases = [
        (format!("{head}1,2:3:a\n"), 3, "ragged"),
        (format!("{head}1,2:c\n"), 3, "not one @classLabel declares"),
        (format!("{head}1,2:a\n:a\n"), 4, "empty sequence"),
        (format!("{head}1,x:a\n"), 3, "not a number"),
        (
            format!("{head}1,2:a\n1,2:3,4:a\n"),
            4,
            "channels, where the file has 1",
        ),
        (
            format!("{head}{}:a\n", vec!["1"; 101].join(",")),
            3,
            "max_sequence_steps",
        ),
        ("@timeStamps true\n@data\n".to_owned(), 1, "timeStamps"),
        ("1,2:a\n".to_owned(), 1, "header line"),
    ];
    for (text, line, says) in cases {
        let e = parse_str(&text).unwrap_err();
        assert_eq!(e.line, Some(line), "{text:?}: {e}");
        assert!(e.message.contains(says), "{text:?}: {e}");
    }
    assert!(
        parse_str("@data\n")
            .unwrap_err()
            .message
            .contains("no sequences")
    );
    assert!(
        parse_str("# only\n")
            .unwrap_err()
            .message
            .contains("no @data")
    );
}

#[test]
fn the_shared_archive_files_parse_with_their_documented_shapes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sequences");
    let read = |name: &str| {
        let f = std::fs::File::open(format!("{dir}/{name}")).unwrap();
        let limits = TsLimits {
            max_steps: 10_000,
            max_values: 10_000_000,
            max_channels: 100,
            max_sequences: usize::MAX,
        };
        parse(std::io::BufReader::new(f), &limits).unwrap()
    };
    let gun = read("GunPoint_TRAIN.ts");
    assert_eq!(
        (gun.sequences.len(), gun.channels, gun.lengths()),
        (50, 1, (150, 150, 150))
    );
    assert_eq!(gun.classes, ["1", "2"]);
    let vowels = read("JapaneseVowels_TRAIN.ts");
    assert_eq!(
        (
            vowels.sequences.len(),
            vowels.channels,
            vowels.classes.len()
        ),
        (270, 12, 9)
    );
    let (min, _, max) = vowels.lengths();
    assert_eq!((min, max), (7, 26));
}
