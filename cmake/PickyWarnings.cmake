# One warning set for every target (after curl's CMake/PickyWarnings.cmake).
set(MC_PICKY_WARNINGS
  -Wall -Wextra
  -Wshadow -Wformat=2 -Wformat-security -Wundef -Wpointer-arith -Wcast-align
  -Wwrite-strings -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
  -Wnested-externs -Wvla -Wno-unused-parameter
  -Wimplicit-fallthrough -Wnull-dereference -Wdouble-promotion
  -Wconversion -Wsign-conversion -Wcast-qual
)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND MC_PICKY_WARNINGS -Wlogical-op -Wduplicated-cond)
endif()
if(MC_WERROR OR DEFINED ENV{CI})
  list(APPEND MC_PICKY_WARNINGS -Werror)
endif()
add_compile_options(${MC_PICKY_WARNINGS})
