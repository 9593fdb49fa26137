-- Gates a provider cannot sidestep: a classification a regulator reviewed
-- is lowered only through a new review; a derived dataset is at least as
-- sensitive as its sources; a new version of a reviewed listing waits for
-- review before it is delivered.

-- The classification at the regulator's last decision on the listing.
ALTER TABLE datasets ADD COLUMN reviewed_classification TEXT
    CHECK (reviewed_classification IN ('general', 'important', 'core'));
UPDATE datasets SET reviewed_classification = classification WHERE reviewed_at IS NOT NULL;

-- The highest classification, and whether any holds personal data, among
-- the sources it was derived from.
ALTER TABLE datasets ADD COLUMN inherited_classification TEXT
    CHECK (inherited_classification IN ('general', 'important', 'core'));
ALTER TABLE datasets ADD COLUMN inherited_personal_data BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE datasets SET
    inherited_personal_data = EXISTS (
        SELECT 1 FROM dataset_sources s JOIN datasets src ON src.id = s.source_id
        WHERE s.dataset_id = datasets.id AND src.personal_data),
    inherited_classification = (
        SELECT CASE MAX(CASE src.classification WHEN 'core' THEN 3 WHEN 'important' THEN 2 ELSE 1 END)
                   WHEN 3 THEN 'core' WHEN 2 THEN 'important' WHEN 1 THEN 'general' END
        FROM dataset_sources s JOIN datasets src ON src.id = s.source_id
        WHERE s.dataset_id = datasets.id);

-- A version's own review: `pending_review` versions are not delivered
-- under grants until a regulator approves them.
ALTER TABLE dataset_versions ADD COLUMN status TEXT NOT NULL DEFAULT 'available'
    CHECK (status IN ('available', 'pending_review', 'rejected'));
ALTER TABLE dataset_versions ADD COLUMN reviewed_by TEXT;
ALTER TABLE dataset_versions ADD COLUMN reviewed_at TIMESTAMP;
ALTER TABLE dataset_versions ADD COLUMN review_reason TEXT;
