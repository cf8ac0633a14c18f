"""Learning materials: publish, study, deadlines, 心得."""
