-- The watch asks, per subject it reads about, where that subject's alerts
-- stand (in force, resolved, never raised), with a bound state, which the
-- partial index alerts_in_force cannot serve.
CREATE INDEX alerts_by_subject ON alerts (rule, subject, state);
