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
        // Flutter 3.35's floor is API 24 (Android 7.0), and image_picker's Android plugin needs 24 too.
        // pytorch_android would run from API 21, but the app cannot go below Flutter's floor.
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
            // R8 off, on purpose. Flutter's Gradle plugin turns on code and resource shrinking for
            // release; with it, R8 strips the fbjni classes that PyTorch Android's native code finds by
            // name (the app crashes in Module.initHybrid() on the first model load), and fbjni's
            // javax.annotation.Nullable reference can fail the build with "Missing classes".
            // pytorch_lite's README says to turn both off. Keep rules (org.pytorch.**,
            // com.facebook.jni.**, com.facebook.soloader.**) would have to track PyTorch's internals,
            // and the saving is small: the APK is mostly native libraries and the Dart AOT snapshot,
            // which R8 does not touch.
            isMinifyEnabled = false
            isShrinkResources = false
            signingConfig = signingConfigs.getByName(if (hasReleaseKey) "release" else "debug")
        }
    }

    packaging {
        // pytorch_android and other plugins can each bring these shared libraries.
        jniLibs.pickFirsts += listOf("lib/**/libc++_shared.so", "lib/**/libfbjni.so")
    }
}

flutter {
    source = "../.."
}
