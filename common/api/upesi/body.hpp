// The message body as MIME parts (Haraka's transaction.body, and attachment_hooks). A plugin
// asks for it in hook_data or earlier; the server then parses the body while it streams in.
//
//   txn.parseBody(true);          // body() after DATA: the tree, with the text of text parts
//   txn.attachmentHooks(start);   // start(part) per attachment, as its bytes arrive
//
// A leaf part is an attachment when its type is not text/* or message/*, or when its
// Content-Disposition is "attachment" (as in Haraka). Attachments are streamed, never kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

/// One MIME part (Haraka's Body): the message itself at the root, its parts as children.
class BodyPart {
public:
  virtual ~BodyPart() = default;

  /// The part's header fields (the root's: the message header as received), unfolded; names
  /// are case-insensitive.
  virtual std::string header(std::string_view name) const = 0;
  virtual std::vector<std::string> headers(std::string_view name) const = 0;

  /// Media type, lower-case, without parameters: "text/plain" when none is given.
  virtual const std::string& contentType() const = 0;
  /// The charset parameter, lower-case; "" when none is given.
  virtual const std::string& charset() const = 0;
  /// Content-Disposition's filename, else Content-Type's name; "" when neither.
  virtual const std::string& filename() const = 0;
  virtual bool isAttachment() const = 0;

  /// Text parts that are not attachments, when parseBody(true) was asked for (Haraka's
  /// bodytext): the decoded text, in UTF-8 if textIsUtf8(), else in charset() as sent (a
  /// charset the server does not convert).
  virtual const std::string& text() const = 0;
  virtual bool textIsUtf8() const = 0;
  /// The text was cut short at the server's limit on decoded text kept per message.
  virtual bool textTruncated() const = 0;
  /// Bytes after transfer decoding (base64, quoted-printable), counted even when not kept.
  virtual std::uint64_t decodedBytes() const = 0;

  virtual std::size_t childCount() const = 0;
  virtual const BodyPart& child(std::size_t index) const = 0;

  /// On the root: the parser limits this message reached ("depth", "parts", "header",
  /// "kept_bytes"). Past them, parts are not split or not kept, so a plugin that must see every
  /// attachment may refuse the message.
  virtual std::vector<std::string> limitsReached() const = 0;
};

/// Where streamed bytes go (an attachment's, or the whole message's); either callback may be
/// empty.
struct StreamHandlers {
  std::function<void(std::string_view bytes)> data; ///< the bytes, in order, in chunks
  std::function<void()> end;                        ///< no more bytes will come
};

/// What an attachment's bytes go to: decoded, in order.
using AttachmentHandlers = StreamHandlers;

/// Called when an attachment's header has been read (its children and text are not known). The
/// part is valid until the end callback returns; returns where its bytes go.
using AttachmentStart = std::function<AttachmentHandlers(const BodyPart& part)>;

} // namespace upesi
