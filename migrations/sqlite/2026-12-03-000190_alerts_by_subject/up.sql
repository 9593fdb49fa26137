-- The watch asks, per subject it reads about, where that subject's alerts
-- stand (in force, resolved, never raised); alerts_in_force answers only
-- the first.
CREATE INDEX alerts_by_subject ON alerts (rule, subject, state);
