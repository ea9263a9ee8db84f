# How tests/runtime/test_encrypted_tokens.py got its vectors (run once by hand; the suite does
# not need Elixir). Plug.Crypto has no dependencies, so its lib/ folder is loaded as source:
#
#   git clone https://github.com/elixir-plug/plug_crypto && cd plug_crypto
#   elixir phoenix_token_vectors.exs lib                  # 2.x: "XCP." tokens (XChaCha20-Poly1305)
#   git checkout v1.2.5 && elixir phoenix_token_vectors.exs lib   # 1.x: "A128GCM" tokens (AES-GCM)
#   elixir phoenix_token_vectors.exs lib ours.txt         # lines "salt token" made by pytest_channels
#
# Phoenix.Token.encrypt(endpoint, secret, data, opts) is Plug.Crypto.encrypt(secret_key_base,
# secret, data, opts), so these are the tokens a Phoenix endpoint with this key base makes.
# Each VECTOR line: salt, inspect(data), the token, and :erlang.term_to_binary of what the token
# holds as OTP 26 writes it (minor_version 2), to check our encoder byte for byte.
[lib | rest] = System.argv()

for file <- ["key_generator.ex", "message_verifier.ex", "message_encryptor.ex"] do
  Code.require_file(Path.join([lib, "plug/crypto", file]))
end

Code.require_file(Path.join([lib, "plug/crypto.ex"]))
:ets.new(Plug.Crypto.Keys, [:named_table, :public])
key_base = "pytest-channels interoperability vectors: a secret key base of 64 bytes"
signed_at = 1_700_000_000

cases = [
  {"user", 42},
  {"user", "José"},
  {"session", %{"user_id" => 7, "roles" => ["admin", "editor"]}},
  {"session", %{user_id: 7, roles: [:admin]}},
  {"misc", {nil, true, false, 1.5, -123_456_789_012_345_678_901, <<255, 0>>, [1, 2, 3], []}}
]

for {salt, data} <- cases do
  token = Plug.Crypto.encrypt(key_base, salt, data, signed_at: signed_at, max_age: 3600)
  term = :erlang.term_to_binary({data, signed_at * 1000, 3600}, minor_version: 2)
  IO.puts("VECTOR #{salt} #{inspect(data)} #{token} #{Base.encode16(term, case: :lower)}")
end

IO.puts("INFINITY #{Plug.Crypto.encrypt(key_base, "user", 1, signed_at: signed_at, max_age: :infinity)}")

with [file] <- rest do
  for line <- String.split(File.read!(file), "\n", trim: true) do
    [salt, token] = String.split(line, " ")
    # Plug.Crypto reads the real clock: the tokens are old, so the age is not checked, except
    # for "inf", whose token carries max_age :infinity itself.
    opts = if salt == "inf", do: [], else: [max_age: :infinity]
    IO.puts("DECRYPTED #{salt} #{inspect(Plug.Crypto.decrypt(key_base, salt, token, opts))}")
  end
end
