-- The finished members of an ensemble run, each written once when it finishes: the resume
-- checkpoint then carries only the member in training (rewriting every finished member with
-- every checkpoint cost gigabytes of writes for a large ensemble). The final checkpoint still
-- holds every member, as predict and downloads need.
CREATE TABLE run_members (
    run_id  TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    member  INTEGER NOT NULL,
    weights BLOB    NOT NULL,
    PRIMARY KEY (run_id, member)
) STRICT;
