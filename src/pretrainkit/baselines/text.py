"""Classical baselines for text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pretrainkit.baselines.base import ClassicalBaseline, check_grid
from pretrainkit.config.values import Range


class BagOfWordsLogReg(ClassicalBaseline):
    """Bag of words and a multinomial logistic regression: the classical text-classification
    floor (Wang & Manning, 2012, "Baselines and Bigrams: Simple, Good Sentiment and Topic
    Classification"). The vocabulary and its IDF weights come from the labeled train texts only.

    Args:
        C: inverse regularisation strengths to choose from on validation.
        ngrams: longest word n-gram to choose from (1: words; 2: words and word pairs).
        tfidf: TF-IDF weights with sublinear term frequency; false: raw counts.
        lowercase: fold case before counting.
        min_df: a term must occur in at least this many train texts.
        max_iter: L-BFGS iterations per fit.
        threads: see `ClassicalBaseline`.
    """

    modality = "text"
    features = "bow"
    classifier = "logreg"

    def __init__(
        self,
        C: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5),  # scikit-learn's name
        ngrams: Sequence[int] = (1, 2),
        tfidf: bool = True,
        lowercase: bool = True,
        min_df: Annotated[int, Range(ge=1)] = 1,
        max_iter: Annotated[int, Range(ge=1)] = 1000,
        threads: Annotated[int, Range(ge=1, example="1")] | None = 1,
    ) -> None:
        super().__init__(threads)
        self.C = [float(c) for c in check_grid("C", C, 0, inclusive=False)]
        self.ngrams = [int(n) for n in check_grid("ngrams", ngrams, 1, inclusive=True)]
        self.tfidf, self.lowercase = tfidf, lowercase
        self.min_df, self.max_iter = min_df, max_iter

    def grid(self) -> list[dict[str, Any]]:
        # simplest first: fewer n-grams, then stronger regularisation (smaller C)
        return [{"ngrams": n, "C": c} for n in sorted(self.ngrams) for c in sorted(self.C)]

    def build(self, setting: dict[str, Any]) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        options = {"ngram_range": (1, setting["ngrams"]), "lowercase": self.lowercase}
        options["min_df"] = self.min_df
        vectorizer = (
            TfidfVectorizer(sublinear_tf=True, **options)
            if self.tfidf
            else CountVectorizer(**options)
        )
        return make_pipeline(vectorizer, LogisticRegression(C=setting["C"], max_iter=self.max_iter))

    def inputs(self, split: Any) -> list[str]:
        return split.texts
