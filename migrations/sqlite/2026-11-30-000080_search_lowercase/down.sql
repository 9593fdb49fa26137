-- Lower-cased search text matches as well; nothing to undo.
SELECT 1;
