package normalize

// SetReuseInput says whether the items passed to Normalize from now on are
// the caller's to give away (see Config.ReuseInput): true for freshly parsed
// JSON, false for values a user still holds.
func (n *Normalizer) SetReuseInput(reuse bool) { n.cfg.ReuseInput = reuse }
