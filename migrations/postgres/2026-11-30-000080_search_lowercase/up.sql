-- Search text is kept lower-cased, so that a search that cannot use the
-- index (a term of one or two characters) compares without lower-casing
-- every row. (SQLite's lower() folds ASCII only; new rows are folded in
-- full by the service.)
UPDATE datasets SET search_text = lower(search_text);
