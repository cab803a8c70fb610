//! Reads and writes the minimalloc CSV format.
//!
//! The header names the columns in any order: `id`, `lower`, `upper`, `size` are required;
//! `alignment` is optional (default 1). Legacy names are accepted as minimalloc's converter
//! does: `buffer`/`buffer_id` for `id`, `begin`/`start` for `lower`, and `end` for `upper`,
//! where `end` is INCLUSIVE (1 is added). Lifetimes are half-open `[lower, upper)`.
//! An `offset` column is ignored on input, as are the other optional minimalloc columns
//! (`hint`, and `gaps`: ignoring gaps treats a buffer as live throughout, which stays correct).
//! Blank lines are skipped; quoting is not supported. Errors carry the 1-based line number and
//! the column name.

use super::{Buffer, Lifetime, Plan, PlanError, Problem};
use std::collections::HashSet;
use std::path::Path;

/// Reads a minimalloc CSV file.
pub fn read_csv(path: &Path) -> Result<Problem, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_csv(&text)
}

/// Column positions found in the header.
struct Columns {
    id: usize,
    lower: usize,
    upper: usize,
    /// True when the upper column is the legacy inclusive `end`.
    upper_inclusive: bool,
    size: usize,
    alignment: Option<usize>,
    count: usize,
}

fn csv_err(line: usize, column: &str, message: impl Into<String>) -> PlanError {
    PlanError::Csv {
        line,
        column: column.to_string(),
        message: message.into(),
    }
}

fn parse_header(line: &str, line_no: usize) -> Result<Columns, PlanError> {
    let names: Vec<String> = line
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let find = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
    let missing = |what: &str| csv_err(line_no, what, format!("missing column `{what}` in header"));
    let id = find(&["id", "buffer", "buffer_id"]).ok_or_else(|| missing("id"))?;
    let lower = find(&["lower", "begin", "start"]).ok_or_else(|| missing("lower"))?;
    let (upper, upper_inclusive) = match find(&["upper"]) {
        Some(i) => (i, false),
        None => (find(&["end"]).ok_or_else(|| missing("upper"))?, true),
    };
    let size = find(&["size"]).ok_or_else(|| missing("size"))?;
    let alignment = find(&["alignment"]);
    Ok(Columns {
        id,
        lower,
        upper,
        upper_inclusive,
        size,
        alignment,
        count: names.len(),
    })
}

fn parse_u64(field: &str, line: usize, column: &str) -> Result<u64, PlanError> {
    let field = field.trim();
    if field.starts_with('-') && field[1..].chars().all(|c| c.is_ascii_digit()) && field.len() > 1 {
        return Err(csv_err(line, column, format!("negative value `{field}`")));
    }
    field.parse::<u64>().map_err(|_| {
        csv_err(
            line,
            column,
            format!("{field:?} is not a non-negative integer"),
        )
    })
}

/// Parses minimalloc CSV text into a [`Problem`] (buffers in file order).
pub fn parse_csv(text: &str) -> Result<Problem, PlanError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let (header_no, header) = lines.next().ok_or_else(|| csv_err(1, "-", "empty file"))?;
    let cols = parse_header(header, header_no)?;
    // Ids borrowed from `text`, sized for one buffer a line (no rehashing, no copies).
    let rows = text.bytes().filter(|&c| c == b'\n').count() + 1;
    let mut seen: HashSet<&str> = HashSet::with_capacity(rows);
    let mut buffers = Vec::with_capacity(rows);
    let mut fields: Vec<&str> = Vec::with_capacity(cols.count);
    for (line_no, line) in lines {
        fields.clear();
        fields.extend(line.split(',').map(str::trim));
        if fields.len() != cols.count {
            return Err(csv_err(
                line_no,
                "-",
                format!("expected {} fields, found {}", cols.count, fields.len()),
            ));
        }
        let name = fields[cols.id];
        if name.is_empty() {
            return Err(csv_err(line_no, "id", "empty id"));
        }
        if name.chars().any(char::is_control) {
            return Err(csv_err(
                line_no,
                "id",
                format!("id {name:?} contains a control character"),
            ));
        }
        let lower = parse_u64(fields[cols.lower], line_no, "lower")?;
        let upper_col = if cols.upper_inclusive { "end" } else { "upper" };
        let mut upper = parse_u64(fields[cols.upper], line_no, upper_col)?;
        if cols.upper_inclusive {
            upper = upper
                .checked_add(1)
                .ok_or_else(|| csv_err(line_no, upper_col, "value too large"))?;
        }
        let size = parse_u64(fields[cols.size], line_no, "size")?;
        let align = match cols.alignment {
            Some(c) => parse_u64(fields[c], line_no, "alignment")?,
            None => 1,
        };
        let lifetime = Lifetime::new(lower, upper).ok_or_else(|| {
            csv_err(
                line_no,
                upper_col,
                format!("upper {upper} must exceed lower {lower}"),
            )
        })?;
        if size == 0 {
            return Err(csv_err(line_no, "size", "size must be positive"));
        }
        if align == 0 {
            return Err(csv_err(line_no, "alignment", "alignment must be positive"));
        }
        if !seen.insert(name) {
            return Err(csv_err(line_no, "id", format!("duplicate id `{name}`")));
        }
        buffers.push(Buffer {
            name: name.to_string(),
            lifetime,
            size,
            align,
        });
    }
    let problem = Problem { buffers };
    problem.check()?;
    Ok(problem)
}

/// Writes `problem` back as minimalloc CSV with an `offset` column appended (and an `alignment`
/// column when some buffer's alignment is not 1). Commas and line breaks in names become `_`.
/// A row whose buffer has no offset in `plan` gets an empty offset cell.
pub fn write_csv(problem: &Problem, plan: &Plan) -> String {
    use std::fmt::Write as _;
    let with_align = problem.buffers.iter().any(|b| b.align != 1);
    let mut out = String::from(if with_align {
        "id,lower,upper,size,alignment,offset\n"
    } else {
        "id,lower,upper,size,offset\n"
    });
    for (i, b) in problem.buffers.iter().enumerate() {
        let name: String = b
            .name
            .chars()
            .map(|c| {
                if matches!(c, ',' | '\n' | '\r') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let _ = write!(
            out,
            "{name},{},{},{}",
            b.lifetime.start, b.lifetime.end, b.size
        );
        if with_align {
            let _ = write!(out, ",{}", b.align);
        }
        match plan.offsets.get(i) {
            Some(o) => {
                let _ = writeln!(out, ",{o}");
            }
            None => out.push_str(",\n"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(text: &str) -> (usize, String, String) {
        match parse_csv(text) {
            Err(PlanError::Csv {
                line,
                column,
                message,
            }) => (line, column, message),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_readme_example() {
        let p = parse_csv("id,lower,upper,size\nb1,0,3,4\nb2,3,9,4\n").unwrap();
        assert_eq!(p.buffers.len(), 2);
        assert_eq!(p.buffers[1].name, "b2");
        assert_eq!(p.buffers[1].lifetime, Lifetime { start: 3, end: 9 });
        assert_eq!((p.buffers[1].size, p.buffers[1].align), (4, 1));
    }

    #[test]
    fn any_column_order_alignment_and_ignored_offset() {
        let p = parse_csv("size,upper,offset,alignment,lower,id\r\n8,5,999,32,1,x\r\n\n").unwrap();
        let b = &p.buffers[0];
        assert_eq!(
            (b.name.as_str(), b.lifetime, b.size, b.align),
            ("x", Lifetime { start: 1, end: 5 }, 8, 32)
        );
    }

    #[test]
    fn legacy_headers_and_inclusive_end() {
        let p = parse_csv("buffer_id,begin,end,size\na,0,2,4\n").unwrap();
        assert_eq!(p.buffers[0].lifetime, Lifetime { start: 0, end: 3 });
        let p = parse_csv("buffer,start,upper,size\na,0,2,4\n").unwrap();
        assert_eq!(p.buffers[0].lifetime, Lifetime { start: 0, end: 2 });
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(err_of("").0, 1);
        assert_eq!(err_of("\n\n").2, "empty file");
        let (line, column, _) = err_of("id,lower,size\na,0,1\n");
        assert_eq!((line, column.as_str()), (1, "upper"));
        let (line, column, msg) = err_of("id,lower,upper,size\na,0,1,4\nb,0,1\n");
        assert_eq!((line, column.as_str()), (3, "-"));
        assert!(msg.contains("expected 4 fields, found 3"), "{msg}");
        let (line, column, _) = err_of("id,lower,upper,size\na,0,x1,4\n");
        assert_eq!((line, column.as_str()), (2, "upper"));
        let (line, column, msg) = err_of("id,lower,upper,size\na,0,1,4\nb,-3,1,4\n");
        assert_eq!((line, column.as_str()), (3, "lower"));
        assert!(msg.contains("negative"), "{msg}");
        let (line, column, _) = err_of("id,lower,upper,size\na,5,5,4\n");
        assert_eq!((line, column.as_str()), (2, "upper"));
        let (line, column, _) = err_of("id,lower,upper,size\na,5,4,4\n");
        assert_eq!((line, column.as_str()), (2, "upper"));
        let (line, column, _) = err_of("id,lower,upper,size\na,0,1,0\n");
        assert_eq!((line, column.as_str()), (2, "size"));
        let (line, column, _) = err_of("id,lower,upper,size,alignment\na,0,1,4,0\n");
        assert_eq!((line, column.as_str()), (2, "alignment"));
        let (line, column, msg) = err_of("id,lower,upper,size\na,0,1,4\n\nb,0,1,4\na,1,2,4\n");
        assert_eq!((line, column.as_str()), (5, "id"));
        assert!(msg.contains("duplicate"), "{msg}");
        let msg = parse_csv("id,lower,upper,size\na,0,1,4\nb,0,q,4\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 3") && msg.contains("upper"), "{msg}");
    }

    #[test]
    fn write_then_read_round_trips() {
        let text = "id,lower,upper,size,alignment\na,0,3,4,1\nb,3,9,4,32\n";
        let p = parse_csv(text).unwrap();
        let out = write_csv(
            &p,
            &Plan {
                offsets: vec![0, 32],
                arena_bytes: 36,
            },
        );
        assert_eq!(
            out,
            "id,lower,upper,size,alignment,offset\na,0,3,4,1,0\nb,3,9,4,32,32\n"
        );
        assert_eq!(parse_csv(&out).unwrap(), p);
    }

    #[test]
    fn reads_the_shipped_example_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/input.12.csv");
        let p = read_csv(&path).expect("tests/data/input.12.csv");
        assert_eq!(p.buffers.len(), 5);
        assert_eq!(crate::plan::bound::lower_bound(&p), 12);
        assert!(matches!(
            read_csv(Path::new("/nonexistent/x.csv")),
            Err(PlanError::Io { .. })
        ));
    }
}
