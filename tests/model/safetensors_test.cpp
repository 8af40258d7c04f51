// safetensors reader/writer: round trips, zero-copy views, and one test per
// kind of broken file, each checking that the message names the file, the
// tensor where there is one, and the problem.
#include "model/safetensors.h"

#include <sys/stat.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broken_files_util.h"

namespace sable {
namespace {

using sable_test::TempDir;
using sable_test::write_file;
using sable_test::write_raw_safetensors;

template <typename T>
Tensor filled(DType dt, Shape s, T first) {
  Tensor t = Tensor::empty(dt, s);
  T* p = t.ptr<T>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(first + T(i));
  return t;
}

TEST(Safetensors, RoundTripsEveryDtypeShapeAndMetadata) {
  TempDir tmp;
  const std::string path = tmp.file("rt.safetensors");
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"b", filled<uint16_t>(DType::BF16, {2, 3}, 0x3f80)},
      {"a.f32", filled<float>(DType::F32, {4}, 1.5f)},
      {"fp8", filled<uint8_t>(DType::F8_E4M3, {3, 5}, 1)},
      {"half", filled<uint16_t>(DType::F16, {1, 2, 3, 1}, 7)},
      {"ids", filled<int32_t>(DType::I32, {}, 42)},
      {"empty", Tensor::empty(DType::F32, {0, 7})},
      {"i64", filled<int64_t>(DType::I64, {2}, -5)},
  };
  ASSERT_TRUE(write_safetensors(path, ts, {{"format", "pt"}, {"note", "x"}}).is_ok());

  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->entries().size(), ts.size());
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->metadata().at("note"), "x");
  for (const auto& [name, t] : ts) {
    const SafetensorsEntry* e = (*f)->find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->dtype, t.dtype()) << name;
    EXPECT_EQ(e->shape, t.shape()) << name;
    Tensor v = (*f)->tensor(*e);
    ASSERT_EQ(v.nbytes(), t.nbytes()) << name;
    if (t.nbytes()) {
      EXPECT_EQ(std::memcmp(v.data(), t.data(), t.nbytes()), 0) << name;
    }
  }
  EXPECT_EQ((*f)->find("missing"), nullptr);
}

TEST(Safetensors, WriterAlignsEveryTensorAndReaderListsFileOrder) {
  TempDir tmp;
  const std::string path = tmp.file("order.safetensors");
  // Given narrow-first: the writer still places each at a multiple of its
  // element size, widest first, keeping the given order among equals.
  ASSERT_TRUE(write_safetensors(path, {{"u8", filled<uint8_t>(DType::F8_E4M3, {3}, 1)},
                                       {"bf", filled<uint16_t>(DType::BF16, {5}, 1)},
                                       {"f32", filled<float>(DType::F32, {3}, 0.f)},
                                       {"i64", filled<int64_t>(DType::I64, {1}, 9)},
                                       {"f32b", filled<float>(DType::F32, {1}, 2.f)}})
                  .is_ok());
  std::string bytes = sable_test::read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  std::vector<std::string> order;
  for (const SafetensorsEntry& e : (*f)->entries()) {
    order.push_back(e.name);
    EXPECT_EQ(e.begin % dtype_size(e.dtype), 0u) << e.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*f)->tensor(e).data()) % dtype_size(e.dtype), 0u) << e.name;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"i64", "f32", "f32b", "bf", "u8"}));
  EXPECT_EQ((*f)->tensor(*(*f)->find("f32b")).ptr<float>()[0], 2.f);
}

TEST(Safetensors, ViewKeepsTheMappingAlive) {
  TempDir tmp;
  const std::string path = tmp.file("alive.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"w", filled<float>(DType::F32, {16}, 3.f)}}).is_ok());
  Tensor view;
  {
    auto f = SafetensorsFile::open(path);
    ASSERT_TRUE(f.is_ok()) << f.status().message();
    view = (*f)->tensor(*(*f)->find("w"));
  }  // the file object's last named reference is gone; the view holds it
  ASSERT_NE(view.owner(), nullptr);
  EXPECT_EQ(view.ptr<float>()[0], 3.f);
  EXPECT_EQ(view.ptr<float>()[15], 18.f);
}

TEST(Safetensors, EmptyHeaderAndZeroByteTensorsAreFine) {
  TempDir tmp;
  write_raw_safetensors(tmp.file("empty.safetensors"), "{}", "");
  auto f = SafetensorsFile::open(tmp.file("empty.safetensors"));
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_TRUE((*f)->entries().empty());

  // A zero-byte tensor may sit at the very end of the data, or inside
  // another's range: it owns no bytes.
  write_raw_safetensors(tmp.file("zero.safetensors"),
                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("e":{"dtype":"BF16","shape":[0,3],"data_offsets":[8,8]},)"
                        R"("m":{"dtype":"BF16","shape":[0],"data_offsets":[4,4]}})",
                        std::string(8, '\0'));
  auto z = SafetensorsFile::open(tmp.file("zero.safetensors"));
  ASSERT_TRUE(z.is_ok()) << z.status().message();
  EXPECT_EQ((*z)->entries().size(), 3u);
  EXPECT_EQ((*z)->tensor(*(*z)->find("e")).numel(), 0);
}

TEST(Safetensors, MisalignedTensorComesBackAsAnAlignedCopy) {
  TempDir tmp;
  // A 9-byte header puts the data section at offset 17: not 4-aligned.
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string padded = header + std::string((8 - (header.size() + 8) % 8) % 8 + 1, ' ');
  float vals[2] = {1.25f, -3.5f};
  sable_test::write_raw_safetensors(tmp.file("odd.safetensors"), padded,
                                    std::string(reinterpret_cast<const char*>(vals), 8));
  auto f = SafetensorsFile::open(tmp.file("odd.safetensors"));
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  Tensor t = (*f)->tensor(*(*f)->find("w"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 4, 0u);
  EXPECT_EQ(t.ptr<float>()[0], 1.25f);
  EXPECT_EQ(t.ptr<float>()[1], -3.5f);
}

TEST(Safetensors, ReadsTheFixtureShards) {
  auto f = SafetensorsFile::open(sable_test::fixture_dir("tiny-dsv3-fp8") + "/model-00001-of-00002.safetensors");
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  int fp8 = 0, f32 = 0;
  for (const SafetensorsEntry& e : (*f)->entries()) {
    fp8 += e.dtype == DType::F8_E4M3;
    f32 += e.dtype == DType::F32;
  }
  EXPECT_GT(fp8, 0);
  EXPECT_GT(f32, 0);
}

TEST(Safetensors, WriterRejectsDuplicateNames) {
  TempDir tmp;
  Status s = write_safetensors(tmp.file("dup.safetensors"),
                               {{"w", Tensor::zeros(DType::F32, {1})}, {"w", Tensor::zeros(DType::F32, {1})}});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("tensor 'w' is given twice"), std::string::npos) << s.message();
}

// ---- Broken files --------------------------------------------------------

struct BrokenCase {
  const char* test_name;
  std::string bytes;                  // the whole file
  const char* tensor;                 // expected in the message, or nullptr
  std::vector<std::string> problem;   // every one expected in the message
};

std::string file_of(const std::string& header, const std::string& data = "") {
  return sable_test::u64_le(header.size()) + header + data;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::vector<BrokenCase> broken_cases() {
  const std::string d16(16, '\0');
  return {
      {"EmptyFile", "", nullptr, {"0 bytes", "shorter than the 8-byte header length"}},
      {"ShorterThan8Bytes", std::string("\x05\0\0", 3), nullptr, {"3 bytes", "shorter than the 8-byte header length"}},
      {"HeaderLengthPastEnd", sable_test::u64_le(1000) + "{}", nullptr,
       {"header length 1000 runs past the end of the file (10 bytes)"}},
      {"HeaderLengthAbsurd", sable_test::u64_le(uint64_t(1) << 62) + "{}", nullptr,
       {"header length 4611686018427387904 is absurdly large"}},
      {"HeaderLengthMax", sable_test::u64_le(~uint64_t(0)) + "{}", nullptr, {"absurdly large"}},
      {"MalformedJson", file_of(R"({"w":{"dtype":"F32",)"), nullptr, {"malformed header JSON"}},
      {"NotJsonAtAll", file_of("\xff\xfe garbage"), nullptr, {"malformed header JSON"}},
      {"EmptyHeader", file_of(""), nullptr, {"malformed header JSON"}},
      {"HeaderNotAnObject", file_of("[1,2,3]"), nullptr, {"header must be a JSON object, got [1,2,3]"}},
      {"EntryNotAnObject", file_of(R"({"w": 5})"), "w", {"header entry must be an object, got 5"}},
      {"MissingDtype", file_of(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", d16), "w", {"missing 'dtype'"}},
      {"DtypeNotString", file_of(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", d16), "w",
       {"'dtype' must be a string"}},
      {"MissingShape", file_of(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", d16), "w", {"missing 'shape'"}},
      {"ShapeNotArray", file_of(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", d16), "w",
       {"'shape' must be an array"}},
      {"MissingDataOffsets", file_of(R"({"w":{"dtype":"F32","shape":[2]}})", d16), "w",
       {"missing 'data_offsets'"}},
      {"UnknownDtype", file_of("{" + entry("w", "F8_E5M2", "[2]", "[0,2]") + "}", d16), "w",
       {"unknown dtype 'F8_E5M2'"}},
      {"NegativeShape", file_of("{" + entry("w", "F32", "[2,-3]", "[0,8]") + "}", d16), "w",
       {"shape [2,-3] must hold non-negative integers"}},
      {"NonIntegerShape", file_of("{" + entry("w", "F32", "[2.5]", "[0,8]") + "}", d16), "w",
       {"shape [2.5] must hold non-negative integers"}},
      {"StringInShape", file_of("{" + entry("w", "F32", "[\"2\"]", "[0,8]") + "}", d16), "w",
       {"must hold non-negative integers"}},
      {"TooManyDims", file_of("{" + entry("w", "U8", "[1,1,1,1,1]", "[0,1]") + "}", d16), "w",
       {"has 5 dimensions; at most 4 are supported"}},
      {"ShapeOverflows",
       file_of("{" + entry("w", "F32", "[4294967296,4294967296,4294967296]", "[0,8]") + "}", d16), "w",
       {"is too large"}},
      {"OffsetsNotPair", file_of("{" + entry("w", "F32", "[2]", "[0]") + "}", d16), "w",
       {"'data_offsets' must be [begin, end]"}},
      {"NegativeOffset", file_of("{" + entry("w", "F32", "[2]", "[-8,0]") + "}", d16), "w",
       {"'data_offsets' must be [begin, end] (two non-negative integers), got [-8,0]"}},
      {"OffsetsOutsideData", file_of("{" + entry("w", "F32", "[8]", "[0,32]") + "}", d16), "w",
       {"data_offsets [0, 32] lie outside the data section (16 bytes)"}},
      {"OffsetsPastEndOfFileHuge",
       file_of("{" + entry("w", "U8", "[0]", "[18446744073709551615,18446744073709551615]") + "}", d16), "w",
       {"lie outside the data section"}},
      {"BeginAfterEnd", file_of("{" + entry("w", "F32", "[0]", "[8,4]") + "}", d16), "w",
       {"data_offsets [8, 4]: begin is after end"}},
      {"Overlapping",
       file_of("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}", d16), "b",
       {"overlaps tensor 'a'", "[0, 8)", "[4, 12)"}},
      {"OverlappingContained",
       file_of("{" + entry("a", "F32", "[4]", "[0,16]") + "," + entry("b", "U8", "[0]", "[2,2]") + "," +
                   entry("c", "F32", "[1]", "[8,12]") + "}",
               d16),
       "c", {"overlaps tensor 'a'"}},
      {"SizeMismatch", file_of("{" + entry("w", "F32", "[3]", "[0,8]") + "}", d16), "w",
       {"shape [3] of F32 needs 12 bytes, but data_offsets [0, 8] span 8"}},
      {"SizeMismatchFp8", file_of("{" + entry("w", "F8_E4M3", "[2,4]", "[0,16]") + "}", d16), "w",
       {"shape [2, 4] of F8_E4M3 needs 8 bytes", "span 16"}},
      {"DuplicateName",
       file_of("{" + entry("w", "F32", "[2]", "[0,8]") + "," + entry("w", "F32", "[2]", "[8,16]") + "}", d16), "w",
       {"appears twice in the header"}},
      {"MetadataNotObject", file_of(R"({"__metadata__": "pt"})"), nullptr, {"__metadata__ must be an object"}},
  };
}

class BrokenSafetensors : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenSafetensors, ErrorNamesFileTensorAndProblem) {
  const BrokenCase& c = GetParam();
  TempDir tmp;
  const std::string path = tmp.file(std::string(c.test_name) + ".safetensors");
  write_file(path, c.bytes);
  auto f = SafetensorsFile::open(path);
  ASSERT_FALSE(f.is_ok());
  const std::string& msg = f.status().message();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  if (c.tensor) {
    EXPECT_NE(msg.find("tensor '" + std::string(c.tensor) + "'"), std::string::npos) << msg;
  }
  for (const std::string& p : c.problem) EXPECT_NE(msg.find(p), std::string::npos) << "want '" << p << "' in: " << msg;
}

INSTANTIATE_TEST_SUITE_P(Cases, BrokenSafetensors, ::testing::ValuesIn(broken_cases()),
                         [](const auto& info) { return std::string(info.param.test_name); });

TEST(Safetensors, MissingFileIsNotFound) {
  TempDir tmp;
  auto f = SafetensorsFile::open(tmp.file("nope.safetensors"));
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("nope.safetensors: no such file"), std::string::npos);
}

TEST(Safetensors, DirectoryIsNotARegularFile) {
  TempDir tmp;
  auto f = SafetensorsFile::open(tmp.path());
  ASSERT_FALSE(f.is_ok());
  EXPECT_NE(f.status().message().find("not a regular file"), std::string::npos) << f.status().message();
}

TEST(Safetensors, FifoDoesNotHang) {
  TempDir tmp;
  const std::string path = tmp.file("pipe.safetensors");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto f = SafetensorsFile::open(path);
  ASSERT_FALSE(f.is_ok());
  EXPECT_NE(f.status().message().find("not a regular file"), std::string::npos) << f.status().message();
}

}  // namespace
}  // namespace sable
