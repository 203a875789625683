"""Learning from verdicts: what causes bad trials (:mod:`.trouble`), on the search space's own
encoding (:mod:`.encoding`), with parameter importance (:mod:`.importance`), put together for
``bttackler explain`` (:mod:`.explain`)."""

from bttackler.analysis.learn.explain import explain, lines, space_of
from bttackler.analysis.learn.trouble import TroubleRule, trouble_of, trouble_rules

__all__ = ["TroubleRule", "explain", "lines", "space_of", "trouble_of", "trouble_rules"]
