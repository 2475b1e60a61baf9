"""Tokenizers of the tiny variants whose published models use Gemma (LTX-2) or Qwen2.5-VL
(HunyuanVideo 1.5) tokenizers, made in code (no download), like `textvideo.tiny_tokenizer` for
the T5 families: the real tokenizer classes (`tokenizers` backed) with small vocabularies, saved
with the pipeline and loaded and run through the pipeline's own code."""

from __future__ import annotations

_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()")

# Qwen2.5's chat template, reduced to what the HunyuanVideo 1.5 pipeline uses: system and user
# turns, then the assistant's turn opened.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tiny_gemma_tokenizer(max_length: int):
    """A Gemma tokenizer (BPE on SentencePiece-style pieces) of about 160 tokens: Gemma's special
    tokens, the word-start marker and every letter, digit and punctuation mark alone and after
    it. Ids stay below 256."""
    from transformers import GemmaTokenizer

    vocab: dict[str, int] = {}
    for token in ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "\u2581"):
        vocab[token] = len(vocab)
    for c in _CHARS:
        vocab[c] = len(vocab)
    merges = []
    for c in _CHARS:
        vocab["\u2581" + c] = len(vocab)
        merges.append(("\u2581", c))
    return GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def tiny_qwen_tokenizer(max_length: int):
    """A Qwen2 tokenizer (byte-level BPE) whose vocabulary is the 256 byte symbols and Qwen's
    chat tokens, with Qwen2.5's chat template (reduced): any text tokenizes. Ids stay below
    264."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    vocab = {symbol: i for i, symbol in enumerate(sorted(ByteLevel.alphabet()))}
    for token in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=max_length)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer
