// ncurses with wide characters, Debian's libncurses-dev: the full-screen reader.
// Its attributes (A_BOLD, COLOR_PAIR) and the standard screen are macros or globals
// Swift cannot use as they are; the cn_ functions hand them over. pkg-config's
// -D_XOPEN_SOURCE=600 is dropped by SwiftPM, so the wide-character half is asked for
// here; the reader itself writes UTF-8 through addstr under a UTF-8 locale.
#ifndef CNCURSES_SHIM_H
#define CNCURSES_SHIM_H
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <ncurses.h>

/// The terminal on stdout and stdin, or NULL (initscr would exit the process instead).
static inline SCREEN *cn_newterm(void) { return newterm(NULL, stdout, stdin); }
static inline WINDOW *cn_stdscr(void) { return stdscr; }
static inline int cn_lines(void) { return LINES; }
static inline int cn_cols(void) { return COLS; }
static inline attr_t cn_normal(void) { return A_NORMAL; }
static inline attr_t cn_bold(void) { return A_BOLD; }
static inline attr_t cn_dim(void) { return A_DIM; }
static inline attr_t cn_italic(void) { return A_ITALIC; }
static inline attr_t cn_underline(void) { return A_UNDERLINE; }
static inline attr_t cn_reverse(void) { return A_REVERSE; }
static inline attr_t cn_color_pair(int pair) { return (attr_t)COLOR_PAIR(pair); }
static inline int cn_attrset(attr_t attributes) { return attrset((int)attributes); }
#endif
