#include "engine/json_schema_formats.h"

namespace sable {

namespace {

// Syntax only, as validators check formats: a day of month up to 31 whatever
// the month, a leap second 60 allowed (RFC 3339 section 5.6). The 'T' and
// 'Z' in upper case only, the form every parser reads (RFC 3339 allows
// lower case too, which not all do).
#define SABLE_DATE "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
#define SABLE_TIME "([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
// ISO 8601 durations with at least one component (RFC 3339 appendix A), with
// ISO's fraction of seconds and a sign as Pydantic writes timedeltas
// ("PT0.5S", "-P1D").
#define SABLE_DUR_S "[0-9]+(\\.[0-9]+)?S"
#define SABLE_DUR_TIME "T([0-9]+H([0-9]+M)?(" SABLE_DUR_S ")?|[0-9]+M(" SABLE_DUR_S ")?|" SABLE_DUR_S ")"
#define SABLE_DURATION                                                                             \
  "-?P([0-9]+W|[0-9]+Y([0-9]+M)?([0-9]+D)?(" SABLE_DUR_TIME ")?|[0-9]+M([0-9]+D)?(" SABLE_DUR_TIME \
  ")?|[0-9]+D(" SABLE_DUR_TIME ")?|" SABLE_DUR_TIME ")"
// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
#define SABLE_LABEL "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
#define SABLE_HOSTNAME SABLE_LABEL "(\\." SABLE_LABEL ")*"
// RFC 5322's dot-atom local part at a domain of two or more labels.
#define SABLE_ATOM "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
#define SABLE_EMAIL SABLE_ATOM "(\\." SABLE_ATOM ")*@" SABLE_LABEL "(\\." SABLE_LABEL ")+"
#define SABLE_OCTET "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define SABLE_IPV4 SABLE_OCTET "(\\." SABLE_OCTET "){3}"
// RFC 4291 text forms: eight groups, or fewer around one "::" (no embedded IPv4).
#define SABLE_H16 "[0-9A-Fa-f]{1,4}"
#define SABLE_IPV6                                                                                            \
  "((" SABLE_H16 ":){7}" SABLE_H16 "|(" SABLE_H16 ":){1,7}:|(" SABLE_H16 ":){1,6}:" SABLE_H16 "|(" SABLE_H16  \
  ":){1,5}(:" SABLE_H16 "){1,2}|(" SABLE_H16 ":){1,4}(:" SABLE_H16 "){1,3}|(" SABLE_H16 ":){1,3}(:" SABLE_H16 \
  "){1,4}|(" SABLE_H16 ":){1,2}(:" SABLE_H16 "){1,5}|" SABLE_H16 ":(:" SABLE_H16 "){1,6}|:((:" SABLE_H16 "){1,7}|:))"
#define SABLE_HEX(n) "[0-9A-Fa-f]{" #n "}"

struct Format {
  std::string_view name;
  const char* regex;
};

constexpr Format kFormats[] = {
    {"date-time", SABLE_DATE "T" SABLE_TIME},
    {"date", SABLE_DATE},
    {"time", SABLE_TIME},
    {"duration", SABLE_DURATION},
    {"email", SABLE_EMAIL},
    {"hostname", SABLE_HOSTNAME},
    {"ipv4", SABLE_IPV4},
    {"ipv6", SABLE_IPV6},
    {"uuid", SABLE_HEX(8) "-" SABLE_HEX(4) "-" SABLE_HEX(4) "-" SABLE_HEX(4) "-" SABLE_HEX(12)},
};

}  // namespace

const char* json_schema_format_regex(std::string_view format) {
  for (const Format& f : kFormats)
    if (f.name == format) return f.regex;
  return nullptr;
}

}  // namespace sable
