// cmark-gfm, Debian's libcmark-gfm-dev and libcmark-gfm-extensions-dev: the parser
// and the GitHub extensions (tables, strikethrough), which must be attached to each
// parser by name after cmark_gfm_core_extensions_ensure_registered().
#include <cmark-gfm.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm-core-extensions.h>
