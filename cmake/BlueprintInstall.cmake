include(CMakePackageConfigHelpers)
get_property(_targets GLOBAL PROPERTY BLUEPRINT_EXPORTED_TARGETS)
install(TARGETS ${_targets} EXPORT blueprint_faas_targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/blueprint DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT blueprint_faas_targets NAMESPACE blueprint::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/blueprint_faas)
configure_package_config_file(cmake/blueprint_faasConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/blueprint_faasConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/blueprint_faas)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/blueprint_faasConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/blueprint_faasConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/blueprint_faasConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/BlueprintPackaging.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/blueprint_faas)
