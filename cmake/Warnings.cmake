# Picky warnings for our own C code (generated protobuf-c code gets a milder set, see proto/).
set(REGATTA_C_WARNINGS
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wstrict-prototypes
  -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wundef -Wvla -Wcast-qual
  -Wno-unused-parameter)
if(REGATTA_WERROR)
  list(APPEND REGATTA_C_WARNINGS -Werror)
endif()

# regatta_target_warnings(<target>): apply the picky set to one of our targets.
function(regatta_target_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:${REGATTA_C_WARNINGS}>)
endfunction()

# regatta_layer(<name> <dir>): one folder = one static library, sources globbed so that
# adding a file needs no CMake edit. Public headers are included as "<layer>/<file>.h".
# Files under <dir>/main/ are programs, not library code, and are excluded.
function(regatta_layer name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/*.c)
  list(FILTER srcs EXCLUDE REGEX "^${dir}/main/")
  if(NOT srcs) # a layer with no code yet still links (its dependants must not care)
    set(empty ${CMAKE_CURRENT_BINARY_DIR}/${name}_empty.c)
    file(WRITE ${empty} "typedef int ${name}_layer_is_empty;\n")
    set(srcs ${empty})
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  regatta_target_warnings(${name})
endfunction()
