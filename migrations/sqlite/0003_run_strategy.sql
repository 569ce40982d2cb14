-- The imbalance strategy a run trains with: one job can compare several on the same folds.
-- NULL on a final run of a comparison: it trains the leaderboard's winner once every fold run
-- has ended, so it is not claimable before.
ALTER TABLE runs ADD COLUMN strategy TEXT;
