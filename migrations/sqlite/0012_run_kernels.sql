-- The kernel set a run trained on (its first attempt's), and the sets later attempts resumed
-- on when they differ: bit-identical resume is promised per kernel set.
ALTER TABLE runs ADD COLUMN kernels TEXT;
ALTER TABLE runs ADD COLUMN resumed_on_kernels TEXT;
