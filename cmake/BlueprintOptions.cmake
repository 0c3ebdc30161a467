# Common warnings and definitions for every project target.
function(blueprint_add_common_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(BLUEPRINT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Adds a library target blueprint_<name>, aliased blueprint::<name>.
function(blueprint_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(WARNING "blueprint::${name} has no sources; not built")
    return()
  endif()
  add_library(blueprint_${name} STATIC ${ARG_SOURCES})
  add_library(blueprint::${name} ALIAS blueprint_${name})
  set_target_properties(blueprint_${name} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(blueprint_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(blueprint_${name} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
  target_compile_features(blueprint_${name} PUBLIC cxx_std_23)
  blueprint_add_common_options(blueprint_${name})
  set_property(GLOBAL APPEND PROPERTY BLUEPRINT_EXPORTED_TARGETS blueprint_${name})
endfunction()
