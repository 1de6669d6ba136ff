// Bytes shown as text (common/text.h) and the names a backup may keep (CheckRelativeName).
#include "common/text.h"

#include <gtest/gtest.h>

#include "common/beneath.h"
#include "common/error.h"

namespace backup {
namespace {

TEST(Text, Utf8IsToldFromOtherBytes) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("plain"));
  EXPECT_TRUE(IsUtf8("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80"));  // é 日 😀
  EXPECT_FALSE(IsUtf8("x\xff\xfe"));
  EXPECT_FALSE(IsUtf8("\xc3"));              // cut short
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Text, ValidUtf8EscapesOnlyWhatIsNotAndIsIdempotent) {
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9 ok"), "caf\xc3\xa9 ok");
  const std::string once = ValidUtf8("bad \xff name \xc3");
  EXPECT_EQ(once, "bad \\xff name \\xc3");
  EXPECT_TRUE(IsUtf8(once));
  EXPECT_EQ(ValidUtf8(once), once);
}

TEST(Text, AnErrorMessageIsAlwaysUtf8) {
  const Error e = Error::Internal("archive entry files/x\xff\xfe");
  EXPECT_TRUE(IsUtf8(e.message()));
  EXPECT_TRUE(IsUtf8(e.Context(std::string("open \xfe")).message()));
}

TEST(Text, ShownNamesNeverLookAlike) {
  EXPECT_EQ(ShowName("a\nb"), "a\\x0ab");
  EXPECT_EQ(ShowName("a\\x0ab"), "a\\\\x0ab");  // the literal text differs from the newline
  EXPECT_EQ(ShowName("x\xff"), "x\\xff");
  EXPECT_EQ(ShowName("\xe6\x97\xa5"), "\xe6\x97\xa5");
  EXPECT_EQ(ShowName("abcdef", 3), "abc...");
}

TEST(Text, NamesKeptAsTextComeBackAsTheirBytes) {
  for (const std::string name : {"plain/name", "caf\xc3\xa9", "x\xff\xfe", "/x:41", "d\x80/f"}) {
    const std::string text = NameAsText(name);
    EXPECT_TRUE(IsUtf8(text)) << ShowName(name);
    EXPECT_EQ(NameFromText(text), name) << ShowName(name);
  }
  EXPECT_EQ(NameAsText("plain/name"), "plain/name");  // older rows read as they are
}

TEST(Text, ARestoreAcceptsEveryNameAFolderCanHoldAndNoOther) {
  EXPECT_TRUE(CheckRelativeName("a/b/c"));
  EXPECT_TRUE(CheckRelativeName("x\xff\xfe/\n/..."));
  EXPECT_TRUE(CheckRelativeName(std::string(255, 'n') + "/" + std::string(255, 'm')));
  for (const std::string bad : {"", "/etc/passwd", "a/../b", "..", "./a", "a//b", "a/"}) {
    EXPECT_FALSE(CheckRelativeName(bad)) << bad;
  }
  EXPECT_FALSE(CheckRelativeName(std::string("a\0b", 3)));
  EXPECT_FALSE(CheckRelativeName(std::string(256, 'n')));
}

}  // namespace
}  // namespace backup
