import java.io.FileInputStream
import java.util.Properties

plugins {
    id("com.android.application")
    id("kotlin-android")
    // The Flutter Gradle Plugin must be applied after the Android and Kotlin Gradle plugins.
    id("dev.flutter.flutter-gradle-plugin")
}

val appId: String = providers.gradleProperty("paddyEdge.applicationId").get()
val appName: String = providers.gradleProperty("paddyEdge.appName").get()

// Release signing comes from android/key.properties when it exists (the release workflow writes it
// from repository secrets, escaped as java.util.Properties reads it). Without it, release builds are
// signed with the debug key: fine for a PR build, never for a published release (the workflow refuses).
val keystoreProperties = Properties()
val keystorePropertiesFile = rootProject.file("key.properties")
val hasReleaseKey = keystorePropertiesFile.exists()
if (hasReleaseKey) {
    FileInputStream(keystorePropertiesFile).use { keystoreProperties.load(it) }
}

android {
    namespace = "org.paddyedge.classifier"
    compileSdk = flutter.compileSdkVersion
    ndkVersion = flutter.ndkVersion

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = JavaVersion.VERSION_17.toString()
    }

    defaultConfig {
        applicationId = appId
        // Flutter 3.38's floor, API 24 (Android 7.0); image_picker's Android plugin needs 24 too, and
        // executorch_flutter runs from API 23, below it.
        minSdk = flutter.minSdkVersion
        targetSdk = flutter.targetSdkVersion
        versionCode = flutter.versionCode
        versionName = flutter.versionName
        manifestPlaceholders["appName"] = appName
    }

    signingConfigs {
        if (hasReleaseKey) {
            create("release") {
                keyAlias = keystoreProperties["keyAlias"] as String
                keyPassword = keystoreProperties["keyPassword"] as String
                storeFile = file(keystoreProperties["storeFile"] as String)
                storePassword = keystoreProperties["storePassword"] as String
            }
        }
    }

    buildTypes {
        release {
            // R8 on, as Flutter's Gradle plugin sets it for release. executorch_flutter is a dart:ffi
            // plugin: its native libraries come in as native assets and no Java or JNI class of it is
            // looked up by name, so there is nothing for R8 to strip that the app needs (pytorch_lite's
            // fbjni was, which is why R8 was off before the move to ExecuTorch). image_picker ships its
            // own consumer rules.
            isMinifyEnabled = true
            isShrinkResources = true
            signingConfig = signingConfigs.getByName(if (hasReleaseKey) "release" else "debug")
        }
    }
}

flutter {
    source = "../.."
}
