"""Build a tiny, real Argos Translate package offline, for tests of the real Argos path.

`build_tiny_package(dest_dir, "pl", "en")` writes `dest_dir/translate-pl_en-0_1.argosmodel`
offline in about 0.2 s (plus about 2 s once per process: `ctranslate2.specs` imports torch when
it is installed; Argos imports it anyway). No training beyond a tiny SentencePiece model.
`argostranslate.package.install_from_path()` installs it like any downloaded package, and
Argos then runs its normal path on it: MiniSBD sentence splitting (ONNX Runtime),
SentencePiece tokenization, CTranslate2 beam search and detokenization.

The package is a zip with one top folder `translate-<from>_<to>-0_1/` holding

- `metadata.json`;
- `sentencepiece.model`: BPE, a few hundred pieces, `character_coverage=1.0`,
  `byte_fallback=True` (a character never seen in training still round-trips, as UTF-8
  byte pieces) and the `identity` normalization (no NFKC rewriting);
- `model/` (CTranslate2: `model.bin`, `config.json`, `shared_vocabulary.json`): a
  one-layer Transformer whose hand-set weights copy the source to the target (see
  `_copy_model_spec`), float16 on disk (8 MB unzipped, 17 kB zipped);
- `minisbd/<from>.onnx`: a 7-node ONNX graph for the MiniSBD sentence splitter: a sentence
  ends at ".", "!", "?" or "…" followed by a space or by the end of the paragraph.

What `translate(text)` returns: `text` itself, with two normalisations done by
SentencePiece/Argos, not by the model: runs of spaces collapse to one space and leading or
trailing spaces go (per line: Argos translates each line on its own and joins them with
"\\n"), and "_" comes back as " " (Argos' SentencePiece detokenizer replaces underscores).
Characters never seen in training (emoji, other scripts) come back too, through byte pieces.
A sentence must stay under `MAX_POSITIONS` SentencePiece tokens: CTranslate2 raises
"No position encodings are defined for positions >= 256" beyond that.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

MAX_POSITIONS = 256
VOCAB_SIZE = 400
PACKAGE_VERSION = "0.1"

LANGUAGE_NAMES = {
    "en": "English", "pl": "Polish", "sv": "Swedish", "de": "German", "ro": "Romanian",
    "es": "Spanish", "fr": "French", "uk": "Ukrainian", "ru": "Russian", "th": "Thai",
}

# --- training text ---------------------------------------------------------------------------

_WORDS = {
    "en": "I you we they she he need help here there where when how what who is are was am "
    "not a the this that my your our house work money phone police doctor time day night "
    "today tomorrow call talk safe free now please thank yes no friend city street hotel "
    "room train station passport ticket water food sleep go come stay live want can will "
    "good bad big small new old open closed left right".split(),
    "pl": "ja ty my oni ona on potrzebuję pomocy tutaj tam gdzie kiedy jak co kto jest są "
    "był nie to mój twój nasz dom praca pieniądze telefon policja lekarz czas dzień noc "
    "dzisiaj jutro zadzwoń rozmowa bezpieczny wolny teraz proszę dziękuję tak przyjaciel "
    "miasto ulica hotel pokój pociąg dworzec paszport bilet woda jedzenie spać iść przyjść "
    "zostać mieszkać chcę mogę będę dobry zły duży mały nowy stary otwarte zamknięte "
    "żółć źrebię gęś łódź ćma ńa śnieg zażółć Łódź Żaba Źle Ćwierć Śląsk Ósemka Ąb Ęk Ńu".split(),
    "sv": "jag du vi de hon han behöver hjälp här där var när hur vad vem är inte en ett "
    "den det min din vår hus arbete pengar telefon polis läkare tid dag natt idag imorgon "
    "ring prata säker fri nu snälla tack ja nej vän stad gata hotell rum tåg station pass "
    "biljett vatten mat sova gå komma stanna bo vill kan ska bra dålig stor liten ny gammal "
    "öppen stängd Åsa Ärlig Öland".split(),
}
_EXTRA = {
    # any other language: its letters are covered by byte fallback; add a few anyway
    "de": "ich du wir brauche Hilfe hier wo wann wie was wer ist nicht Haus Arbeit Geld "
    "Straße Bahnhof Grüße über schön Ärger Öl Übung".split(),
    "ro": "eu tu noi am nevoie de ajutor aici unde când cum ce cine este nu casă muncă bani "
    "stradă gară mulțumesc învăța țară șase Țară Știu Înapoi".split(),
}
_PUNCTUATION = [".", "?", "!", ",", ";", ":", "...", " -", "'s", "%", "&", "@", "+", "=", "/",
                "(", ")", "\"", "#", "*", "…", "€", "$", "°"]


def default_training_lines(*codes: str) -> list[str]:
    """A few hundred short, deterministic sentences in the given languages plus English.

    Covers a-z, A-Z, 0-9, common punctuation and the special letters of the languages.
    """
    langs = ["en", *[c for c in codes if c != "en"]]
    words: list[str] = []
    for code in langs:
        words += _WORDS.get(code, []) + _EXTRA.get(code, [])
    lines = [
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789",
        "The quick brown fox jumps over the lazy dog. Pack my box with five dozen jugs!",
        " ".join(_PUNCTUATION) + " 1,5 2.50 10:30 100% 24/7 +46 (0)8 e-mail a@b.se",
    ]
    n = len(words)
    for i in range(360):
        length = 3 + i % 7
        chosen = [words[(i * 7 + j * 13 + j * j) % n] for j in range(length)]
        if i % 3 == 0:
            chosen[0] = chosen[0].capitalize()
        if i % 5 == 0:
            chosen.insert(1, str(i * 37 % 1000))
        if i % 4 == 1:
            chosen[-1] += ","
            chosen.append(words[(i * 11) % n])
        lines.append(" ".join(chosen) + _PUNCTUATION[i % len(_PUNCTUATION)])
    return lines


# --- SentencePiece ---------------------------------------------------------------------------


def _train_sentencepiece(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",  # the default unigram fails on so little text
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="identity",
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


# --- CTranslate2 copy model ------------------------------------------------------------------


def _copy_model_spec(vocab: list[str], max_positions: int):
    """A CTranslate2 TransformerSpec whose output is its input (ids), built from numpy arrays.

    Residual stream of width d = V + P: dims [0, V) hold a one-hot token, dims [V, V+P) a
    one-hot position (learned position encodings). The source gets "</s>" appended
    (config add_source_eos); the encoder's one layer adds nothing (zero output weights), so
    encoder state s is (after the final layer norm) an affine image of
    onehot(token_s) + onehot(s). The decoder's token
    embeddings are zero, so decoder state t is onehot(t). Its single layer: self-attention
    and feed-forward output zero; the cross-attention query/key read the position block
    (decoder step t attends to source position t, sharply), the value reads the token block
    and writes it back into the token block. The output projection reads the token block.
    So step t emits source token t: the source's own "</s>" ends the output. The layer norms
    see vectors of the same shape at every position, so they act as one affine map (and the
    final one is monotone on the token block), which keeps the argmax. Scores come out ~0.

    Argos runs beam search (beam 4, length penalty 0.2): CTranslate2 then stops only after 4
    hypotheses have finished, so the losing beams must end quickly too; see the "</s>" key
    below.
    """
    import ctranslate2

    V, P = len(vocab), max_positions
    d = V + P
    f32 = np.float32
    tok = slice(0, V)
    pos = slice(V, V + P)

    def zeros(*shape):
        return np.zeros(shape, dtype=f32)

    def layer_norm(ln):
        ln.gamma = np.ones(d, dtype=f32)
        ln.beta = zeros(d)

    def linear(lin, weight):
        lin.weight = weight
        lin.bias = zeros(weight.shape[0])

    spec = ctranslate2.specs.TransformerSpec.from_config(1, num_heads=1, pre_norm=True)
    enc, dec = spec.encoder, spec.decoder

    def zero_block(layer):  # a layer whose attention and feed-forward add nothing
        layer_norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], zeros(3 * d, d))
        linear(layer.self_attention.linear[1], zeros(d, d))
        layer_norm(layer.ffn.layer_norm)
        linear(layer.ffn.linear_0, zeros(1, d))
        linear(layer.ffn.linear_1, zeros(d, 1))

    position_table = zeros(P, d)
    position_table[:, pos] = np.eye(P, dtype=f32)

    enc_embeddings = zeros(V, d)
    enc_embeddings[:, tok] = np.eye(V, dtype=f32)
    enc.embeddings[0].weight = enc_embeddings
    enc.scale_embeddings = False
    enc.position_encodings.encodings = position_table
    layer_norm(enc.layer_norm)
    zero_block(enc.layer[0])

    dec.embeddings.weight = zeros(V, d)
    dec.scale_embeddings = False
    dec.position_encodings.encodings = position_table.copy()
    layer_norm(dec.layer_norm)
    projection = zeros(V, d)
    projection[:, tok] = np.eye(V, dtype=f32)
    linear(dec.projection, projection)

    layer = dec.layer[0]
    zero_block(layer)

    cross = layer.attention
    layer_norm(cross.layer_norm)
    query = zeros(d, d)
    query[pos, pos] = 8.0 * np.eye(P, dtype=f32)  # sharpens the attention
    key_value = zeros(2 * d, d)
    key_value[pos, pos] = np.eye(P, dtype=f32)  # keys: position block
    key_value[d : d + V, tok] = np.eye(V, dtype=f32)  # values: token block
    # Past the end of the source no position matches: a constant query term on the key of
    # the "</s>" token (weaker than a position match) sends the attention there, so a beam
    # that got there emits "</s>" (else beam search runs such beams to the length limit).
    eos = vocab.index("</s>")
    key_value[eos, eos] = 1.0
    query_bias = zeros(d)
    query_bias[eos] = 100.0
    out = zeros(d, d)
    out[tok, tok] = np.eye(V, dtype=f32)
    linear(cross.linear[0], query)
    cross.linear[0].bias = query_bias
    linear(cross.linear[1], key_value)
    linear(cross.linear[2], out)

    spec.config.add_source_eos = True
    spec.config.layer_norm_epsilon = 1e-6
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    return spec


def _save_ctranslate2(spec, output_dir: Path) -> None:
    from ctranslate2.converters import Converter

    class _SpecConverter(Converter):
        def _load(self):
            return spec

    _SpecConverter().convert(str(output_dir), quantization="float16", force=True)


# --- MiniSBD sentence splitter ---------------------------------------------------------------

_SENTENCE_ENDS = [".", "!", "?", "…"]


def _minisbd_onnx(lang: str) -> bytes:
    """The ONNX graph MiniSBD runs: character ids `units` [B,T] (+ unused `features`
    [B,T,F]) -> scores [B,T,3] (0 inside, 1 token end, 2 sentence end), argmax taken.

    Class 2 where the character is a sentence end and the next one is a space or padding
    (the end of the paragraph); class 0 elsewhere, so a whole sentence is one "token".
    """
    import onnx
    from onnx import TensorProto, helper

    id2unit = ["<PAD>", "<UNK>", " ", *_SENTENCE_ENDS]
    vocab_state = {
        "lang": lang, "idx": 0, "cutoff": 0, "lower": False,
        "_unit2id": {u: i for i, u in enumerate(id2unit)}, "_id2unit": id2unit,
    }
    is_end = np.array([1 if u in _SENTENCE_ENDS else 0 for u in id2unit], dtype=np.int64)
    is_gap = np.array([1 if u in ("<PAD>", " ") else 0 for u in id2unit], dtype=np.int64)
    scores = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32)

    def const(name, array):
        return helper.make_tensor(name, TensorProto.FLOAT if array.dtype == np.float32
                                  else TensorProto.INT64, array.shape, array.flatten().tolist())

    initializers = [
        const("is_end", is_end), const("is_gap", is_gap), const("scores", scores),
        const("two", np.array(2, dtype=np.int64)),
        const("starts", np.array([1], dtype=np.int64)),
        const("ends", np.array([2**62], dtype=np.int64)),
        const("axes", np.array([1], dtype=np.int64)),
        const("pads", np.array([0, 0, 0, 1], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Gather", ["is_end", "units"], ["end"]),
        helper.make_node("Slice", ["units", "starts", "ends", "axes"], ["rest"]),
        helper.make_node("Pad", ["rest", "pads"], ["next"], mode="constant"),  # pads with 0 = <PAD>
        helper.make_node("Gather", ["is_gap", "next"], ["gap"]),
        helper.make_node("Mul", ["end", "two"], ["end2"]),
        helper.make_node("Add", ["end2", "gap"], ["row"]),
        helper.make_node("Gather", ["scores", "row"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_minisbd",
        [
            helper.make_tensor_value_info("units", TensorProto.INT64, ["B", "T"]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", "T", "F"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    config = {"feat_funcs": [], "use_dictionary": False, "num_dict_feat": 0, "max_seqlen": 1000,
              "skip_newline": False, "no_ssplit": False, "batch_size": 32}
    helper.set_model_props(model, {"lang_code": lang, "config": json.dumps(config),
                                   "vocab": json.dumps(vocab_state), "lexicon": "null"})
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --- the package -----------------------------------------------------------------------------


def build_tiny_package(
    dest_dir: Path, from_code: str, to_code: str, training_lines: list[str] | None = None
) -> Path:
    """Build `dest_dir/translate-<from>_<to>-0_1.argosmodel` offline and return its path.

    The model copies its input: `translate(text)` returns `text` (see the module docstring for
    the whitespace and "_" normalisations).
    """
    import sentencepiece as spm

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = f"translate-{from_code}_{to_code}-{PACKAGE_VERSION.replace('.', '_')}"
    lines = training_lines if training_lines is not None else default_training_lines(
        from_code, to_code)

    with tempfile.TemporaryDirectory(prefix="tiny-argos-") as tmp:
        root = Path(tmp) / name
        root.mkdir()
        sp_bytes = _train_sentencepiece(lines, VOCAB_SIZE)
        (root / "sentencepiece.model").write_bytes(sp_bytes)
        sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
        vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        assert vocab[:3] == ["<unk>", "<s>", "</s>"], vocab[:3]

        _save_ctranslate2(_copy_model_spec(vocab, MAX_POSITIONS), root / "model")
        (root / "minisbd").mkdir()
        (root / "minisbd" / f"{from_code}.onnx").write_bytes(_minisbd_onnx(from_code))
        metadata = {
            "package_version": PACKAGE_VERSION,
            "argos_version": "1.11",
            "from_code": from_code,
            "from_name": LANGUAGE_NAMES.get(from_code, from_code),
            "to_code": to_code,
            "to_name": LANGUAGE_NAMES.get(to_code, to_code),
            "type": "translate",
            "links": [],
        }
        (root / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        (root / "README.md").write_text(
            f"Tiny test package {from_code}->{to_code}: copies its input. Built by "
            "tests/support/tiny_argos.py; not a translation model.\n", encoding="utf-8")

        out = dest_dir / f"{name}.argosmodel"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                zf.write(path, path.relative_to(root.parent).as_posix())
        shutil.rmtree(root)
    return out


# --- pointing Argos at a test directory ------------------------------------------------------

ARGOS_ENV_KEYS = ("ARGOS_PACKAGES_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                  "ARGOS_CHUNK_TYPE")


@contextlib.contextmanager
def argos_environment(home: Path) -> Iterator[Path]:
    """Run Argos with all its files under `home`; restore the process afterwards.

    Argos reads its settings when `argostranslate.settings` is first imported. Inside: the
    environment is set by `translations.mt.configure_argos_home(home)` (explicitly, whatever
    was set before), and if Argos was already imported its settings are re-pointed at `home`.
    Afterwards: the environment is restored, Argos' per-process caches are cleared and, if
    Argos was first imported inside, its modules are dropped so that a later import reads
    the environment of its own time. Yields the packages directory.
    """
    from translations.mt import configure_argos_home

    home = Path(home)
    if any(word in str(home).lower() for word in ("stanza", "minisbd")):
        raise ValueError(f"Argos picks its sentence splitter by these words in paths: {home}")
    saved_env = {key: os.environ.get(key) for key in ARGOS_ENV_KEYS}
    was_imported = "argostranslate.settings" in sys.modules
    saved_attrs: list[tuple[object, str, object]] = []
    try:
        for key in ARGOS_ENV_KEYS:
            os.environ.pop(key, None)
        configure_argos_home(home)
        if was_imported:
            saved_attrs = _repoint_argos_settings()
        _clear_argos_caches()
        yield Path(os.environ["ARGOS_PACKAGES_DIR"])
    finally:
        _clear_argos_caches()
        for module, name, value in reversed(saved_attrs):
            setattr(module, name, value)
        if not was_imported:
            for name in [m for m in sys.modules if m == "argostranslate" or
                         m.startswith("argostranslate.")]:
                del sys.modules[name]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _repoint_argos_settings() -> list[tuple[object, str, object]]:
    settings = sys.modules["argostranslate.settings"]
    data_dir = Path(os.environ["XDG_DATA_HOME"]) / "argos-translate"
    config_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "argos-translate"
    cache_dir = Path(os.environ["XDG_CACHE_HOME"]) / "argos-translate"
    packages = Path(os.environ["ARGOS_PACKAGES_DIR"])
    for directory in (data_dir, config_dir, cache_dir / "downloads", packages):
        directory.mkdir(parents=True, exist_ok=True)
    values = {
        "data_dir": data_dir, "config_dir": config_dir, "cache_dir": cache_dir,
        "downloads_dir": cache_dir / "downloads", "settings_file": config_dir / "settings.json",
        "legacy_package_data_dir": data_dir / "packages", "package_data_dir": packages,
        "package_dirs": [packages], "local_package_index": data_dir / "index.json",
        "chunk_type": settings.ChunkType.MINISBD,
    }
    saved = [(settings, name, getattr(settings, name)) for name in values]
    for name, value in values.items():
        setattr(settings, name, value)
    minisbd_models = sys.modules.get("minisbd.models")
    if minisbd_models is not None:
        saved.append((minisbd_models, "cache_dir", minisbd_models.cache_dir))
        minisbd_models.cache_dir = str(data_dir / "minisbd")
    return saved


def _clear_argos_caches() -> None:
    translate = sys.modules.get("argostranslate.translate")
    if translate is not None:
        translate.get_installed_languages.cache_clear()
        translate.installed_translates.clear()
