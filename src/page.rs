//! Keyset pagination shared by every list: newest first by id (UUIDv7, so
//! by creation), one row fetched beyond the page to know whether another
//! page follows, and the last id as the opaque cursor.

use uuid::Uuid;

use crate::error::{Code, Error, Result};

/// Reads a cursor this API gave out; an empty one means "from the start".
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<Uuid>> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => Uuid::parse_str(c).map(Some).map_err(|_| {
            Error::refused(Code::InvalidCursor, "the cursor is not one this API gave")
        }),
    }
}

/// Cuts `rows` (fetched with `limit + 1`) to the page and names the cursor
/// of the next page, if there is one.
pub fn split<R>(mut rows: Vec<R>, limit: u32, id: impl Fn(&R) -> &str) -> (Vec<R>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| id(r).to_owned())
    } else {
        None
    };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let (rows, next) = split(vec!["c", "b", "a"], 2, |r| r);
        assert_eq!((rows, next.as_deref()), (vec!["c", "b"], Some("b")));
        let (rows, next) = split(vec!["b", "a"], 2, |r| r);
        assert_eq!((rows, next), (vec!["b", "a"], None));
        assert_eq!(parse_cursor(Some("")).unwrap(), None);
        assert!(parse_cursor(Some("nope")).is_err());
    }
}
