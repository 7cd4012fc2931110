"""A tiny Llama with seeded random weights and a word-level tokenizer, made locally (no model hub):
4 layers, 512 hidden, 8 heads (8 KV heads), 1024 intermediate, 32000 vocab; 43.3 M parameters in
float32. Usage: make_model.py OUT_DIR."""
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out = sys.argv[1]
torch.manual_seed(0)
config = LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1024, num_hidden_layers=4,
                     num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=4096, rms_norm_eps=1e-5,
                     rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
LlamaForCausalLM(config).to(torch.float32).save_pretrained(out, safe_serialization=True)
vocab = {f"t{i}": i for i in range(3, 32000)} | {"<unk>": 0, "<s>": 1, "</s>": 2}
tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tokenizer.decoder = decoders.WordPiece(prefix="##")
PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                        pad_token="<unk>", model_max_length=4096).save_pretrained(out)
